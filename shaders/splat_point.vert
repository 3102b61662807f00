#version 430
// One point sprite per Gaussian (Gaussians whose box fits in a 255-px sprite); draw order from `order`.
// Splats wholly over pixels that are already opaque (see `hidden`) are dropped before rasterization.
#include "splat_common.glsl"

uniform float center_size;   // > 0: "centers" mode, draw a dot of that many pixels instead

void main() {
    uint gid = order[gl_VertexID];
    vec2 ext = load_splat(gid);
    if (ext.x < 0.0) {                       // culled: put it outside the clip volume
        gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
        gl_PointSize = 1.0;
        return;
    }
    if (center_size > 0.0) {                 // snap to the centre of the pixel holding the mean
        gl_Position = pixel_to_ndc(floor(g_mean2d) + 0.5);
        gl_PointSize = center_size;
        return;
    }
    if (hidden(gid)) {   // everything under it is already opaque
        gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
        gl_PointSize = 1.0;
        return;
    }
    gl_Position = pixel_to_ndc(g_mean2d);
    gl_PointSize = min(2.0 * max(ext.x, ext.y) + 0.25, 255.0);   // pixels beyond ext have alpha < 1/255
}
