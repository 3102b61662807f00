#version 430
// "centers" mode: an opaque dot in the Gaussian's view-dependent colour; drawn near to far with the
// "under" blend, so the nearest dot keeps the pixel.
flat in vec4 v_geom;
flat in vec3 v_conic;
flat in vec3 v_color;

layout(location = 0) out vec4 out_color;

void main() {
    out_color = vec4(clamp(v_color, 0.0, 1.0), 1.0);
}
