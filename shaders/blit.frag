#version 430
// Draws a texture (e.g. a CUDA-rendered frame) over the whole viewport.
in vec2 v_uv;
uniform sampler2D image;
uniform bool flip_y;
layout(location = 0) out vec4 out_color;

void main() {
    out_color = texture(image, flip_y ? vec2(v_uv.x, 1.0 - v_uv.y) : v_uv);
}
