#version 430
// Two triangles per Gaussian, covering its alpha>=1/255 box: used for Gaussians too big for a sprite.
#include "splat_common.glsl"

const vec2 CORNERS[6] = vec2[6](vec2(-1.0, -1.0), vec2(1.0, -1.0), vec2(-1.0, 1.0),
                                vec2(-1.0, 1.0), vec2(1.0, -1.0), vec2(1.0, 1.0));

void main() {
    uint gid = order[gl_VertexID / 6];
    vec2 ext = load_splat(gid);
    if (ext.x < 0.0 || hidden(gid)) {
        gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
        return;
    }
    gl_Position = pixel_to_ndc(g_mean2d + CORNERS[gl_VertexID % 6] * (ext + 1.0));
}
