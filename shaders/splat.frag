#version 430
// EWA splat fragment: alpha = min(0.99, opacity * exp(-d^T conic d / 2)), premultiplied output.
// Drawn near to far with the "under" blend (ONE_MINUS_DST_ALPHA, ONE): exactly 3DGS front-to-back
// compositing (C += T * alpha * c, with T = 1 - accumulated alpha).
// Fragments below alpha 1/255 write zero instead of `discard`: the blend leaves the pixel unchanged
// bit for bit, and on llvmpipe a shader without discard is ~25% faster.
// With DEPTH_OUTPUT defined, a second target accumulates z * alpha (alpha-weighted depth).
flat in vec4 v_geom;   // offset.xy (image pixel - mean2d = (fc.x, fc.y * pix_map.z) + offset), opacity, z
flat in vec3 v_conic;  // pre-scaled conic, see splat_common.glsl
flat in vec3 v_color;

uniform vec4 pix_map;
uniform float alpha_min;

layout(location = 0) out vec4 out_color;
#ifdef DEPTH_OUTPUT
layout(location = 1) out vec4 out_depth;
#endif

void main() {
    vec2 d = vec2(gl_FragCoord.x, gl_FragCoord.y * pix_map.z) + v_geom.xy;
    float power = v_conic.x * d.x * d.x + v_conic.z * d.y * d.y + v_conic.y * d.x * d.y;
    float alpha = min(0.99, v_geom.z * exp2(power));
    alpha = (alpha < alpha_min || power > 0.0) ? 0.0 : alpha;
    out_color = vec4(v_color * alpha, alpha);
#ifdef DEPTH_OUTPUT
    out_depth = vec4(v_geom.w * alpha, 0.0, 0.0, alpha);
#endif
}
