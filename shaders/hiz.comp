#version 430
// Occlusion pyramid for front-to-back splatting: level 0 holds, per 4x4-pixel block, the smallest
// accumulated alpha; level L covers 4*2^L pixels. Blocks outside the image count as saturated.
layout(local_size_x = 8, local_size_y = 8) in;

layout(r32f, binding = 0) writeonly uniform image2D dst;   // level L
layout(r32f, binding = 1) readonly uniform image2D src;    // level L-1 (when level > 0)
uniform sampler2D color;   // the splat target (alpha = accumulated opacity), for level 0
uniform int level;
uniform ivec2 image_size;  // pixels
uniform ivec2 src_size;    // blocks at level L-1
uniform ivec2 dst_size;    // blocks at level L

void main() {
    ivec2 b = ivec2(gl_GlobalInvocationID.xy);
    if (b.x >= dst_size.x || b.y >= dst_size.y) return;
    float m = 1.0;
    if (level == 0) {
        ivec2 p0 = b * 4;
        for (int y = 0; y < 4; ++y) {
            for (int x = 0; x < 4; ++x) {
                ivec2 p = p0 + ivec2(x, y);
                if (p.x < image_size.x && p.y < image_size.y) m = min(m, texelFetch(color, p, 0).a);
            }
        }
    } else {
        for (int k = 0; k < 4; ++k) {
            ivec2 c = b * 2 + ivec2(k & 1, k >> 1);
            if (c.x < src_size.x && c.y < src_size.y) m = min(m, imageLoad(src, c).r);
        }
    }
    imageStore(dst, b, vec4(m));
}
