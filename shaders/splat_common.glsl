// Shared by the splat vertex shaders: fetch the i-th Gaussian in draw order and map pixels to NDC.
layout(std430, binding = 5) readonly buffer Splats { vec4 splats[]; };
layout(std430, binding = 6) readonly buffer Order { uint order[]; };

uniform vec4 ndc_map;   // ndc = (u * x + y, v * z + w) for image pixel coordinates (u, v)
uniform bool white;     // "alpha" mode: every splat is white

uniform vec4 pix_map;   // image pixel (u, v) = (gl_FragCoord.x * x + y, gl_FragCoord.y * z + w)

flat out vec4 v_geom;   // fragment offset (see splat.frag), opacity, camera z
flat out vec3 v_conic;  // conic (a, b, c) scaled to -log2(e) * (a/2, b, c/2): exp2(d^T v_conic d) = exp(-d^T conic d / 2)
flat out vec3 v_color;
vec2 g_mean2d;          // pixel position of the loaded splat's centre

// Occlusion culling: splat_cull.comp stamps Gaussians lying wholly over opaque pixels.
layout(std430, binding = 7) readonly buffer Culled { uint culled[]; };
uniform uint cull_stamp;       // 0: no culling in this draw

bool hidden(uint gid) {
    return cull_stamp != 0u && culled[gid] == cull_stamp;
}

vec4 pixel_to_ndc(vec2 uv) {
    return vec4(uv.x * ndc_map.x + ndc_map.y, uv.y * ndc_map.z + ndc_map.w, 0.0, 1.0);
}

// Loads Gaussian `gid`, fills the flat outputs, returns the half-extents (pixels) of its box.
vec2 load_splat(uint gid) {
    vec4 s0 = splats[3u * gid];
    vec4 s1 = splats[3u * gid + 1u];
    vec4 s2 = splats[3u * gid + 2u];
    const float LOG2E = 1.4426950408889634;
    g_mean2d = s0.xy;
    // frag: d = (gl_FragCoord.x, gl_FragCoord.y * pix_map.z) + offset = image pixel - mean2d
    v_geom = vec4(pix_map.y - s0.x, pix_map.w - s0.y, s0.w, s0.z);
    v_conic = -LOG2E * vec3(0.5 * s1.x, s1.y, 0.5 * s1.z);
    v_color = white ? vec3(1.0) : s2.rgb;
    return s0.w > 0.0 ? vec2(s1.w, s2.w) : vec2(-1.0);
}
