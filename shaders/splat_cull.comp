#version 430
// Occlusion culling for one stage of the near-to-far order: a Gaussian whose alpha >= 1/255 box lies
// wholly over pixels whose accumulated alpha is already `saturated` (transmittance < 1e-4, like 3DGS's
// early stop) can add nothing visible; it is stamped in `culled` and the vertex shaders drop it.
layout(local_size_x = 128) in;

layout(std430, binding = 5) readonly buffer Splats { vec4 splats[]; };
layout(std430, binding = 6) readonly buffer Order { uint order[]; };
layout(std430, binding = 7) writeonly buffer Culled { uint culled[]; };

uniform sampler2D hiz;      // min alpha per 4*2^L-pixel block at level L (hiz.comp)
uniform int levels;
uniform uint first;         // this stage: order[first .. first + count)
uniform uint count;
uniform uint cull_stamp;
uniform float saturated;

void main() {
    uint k = gl_GlobalInvocationID.x;
    if (k >= count) return;
    uint gid = order[first + k];
    vec4 s0 = splats[3u * gid];
    vec2 ext = vec2(splats[3u * gid + 1u].w, splats[3u * gid + 2u].w);
    if (s0.w <= 0.0) return;
    // The coarsest level whose blocks still split the box into at most 4 x 4 of them.
    float span = 2.0 * max(ext.x, ext.y);
    int level = int(clamp(ceil(log2(max(span / 12.0, 1.0))), 0.0, float(levels - 1)));
    float block = 4.0 * exp2(float(level));
    ivec2 size = textureSize(hiz, level);
    ivec2 lo = clamp(ivec2(floor((s0.xy - ext) / block)), ivec2(0), size - 1);
    ivec2 hi = clamp(ivec2(floor((s0.xy + ext) / block)), ivec2(0), size - 1);
    if (hi.x - lo.x > 4 || hi.y - lo.y > 4) return;   // too big for the pyramid: keep it
    for (int y = lo.y; y <= hi.y; ++y) {
        for (int x = lo.x; x <= hi.x; ++x) {
            if (texelFetch(hiz, ivec2(x, y), level).r < saturated) return;
        }
    }
    culled[gid] = cull_stamp;
}
