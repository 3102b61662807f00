#version 430
// Shows an alpha-weighted depth target as grey (near = light, far = dark) over a background.
in vec2 v_uv;
uniform sampler2D color_tex;   // premultiplied colour, alpha in .a
uniform sampler2D depth_tex;   // sum of w * z in .r
uniform vec2 depth_range;      // near, far of the shown range
uniform vec3 background;
uniform bool flip_y;
layout(location = 0) out vec4 out_color;

void main() {
    vec2 uv = flip_y ? vec2(v_uv.x, 1.0 - v_uv.y) : v_uv;
    float a = texture(color_tex, uv).a;
    float z = a > 1e-6 ? texture(depth_tex, uv).r / a : depth_range.y;
    float g = 1.0 - clamp((z - depth_range.x) / max(depth_range.y - depth_range.x, 1e-6), 0.0, 1.0);
    out_color = vec4(mix(background, vec3(0.15 + 0.85 * g), a), 1.0);
}
