#version 430
// One invocation per Gaussian: (optional) linear-blend skinning, EWA projection, SH colour.
// Writes 3 vec4 per Gaussian to `splats`, in the Gaussian's own index order:
//   [0] mean2d.xy (pixels), camera z, opacity (0 = culled)
//   [1] conic a, b, c (inverse 2D covariance [[a,b],[b,c]]), half-width of the alpha>=1/255 box
//   [2] colour rgb (SH + 0.5, >= 0), half-height of that box
layout(local_size_x = 128) in;

layout(std430, binding = 0) readonly buffer Canon { vec4 canon[]; };   // mean|opacity, quat wxyz, scale|locked
layout(std430, binding = 1) readonly buffer Sh { float sh[]; };         // [N][K][3]
layout(std430, binding = 2) readonly buffer SkinIdx { uint skin_idx[]; };  // 4 joint ids, 8 bits each
layout(std430, binding = 3) readonly buffer SkinW { vec4 skin_w[]; };
// Rest -> posed, per joint. A uniform block: on llvmpipe, per-lane (gathered) reads from it are
// much cheaper than from an SSBO.
layout(std140, binding = 0) uniform Bones { mat4 bones[MAX_JOINTS]; };
layout(std430, binding = 5) writeonly buffer Splats { vec4 splats[]; };

uniform uint count;
uniform uint sh_k;
uniform bool skinned;
uniform vec3 transl;
uniform mat4 view;          // world -> camera (OpenCV axes)
uniform vec3 campos;
uniform vec4 intrinsics;    // fx, fy, cx, cy
uniform vec2 image_size;
uniform vec2 clip_z;        // near, far
uniform float eps2d;
uniform float alpha_min;

#include "sh_eval.glsl"

mat3 quat_to_mat(vec4 q) {
    q = q / max(length(q), 1e-12);
    float w = q.x, x = q.y, y = q.z, z = q.w;
    // GLSL matrices are column-major: each vec3 below is a column.
    return mat3(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y),
                2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x),
                2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y));
}

// Nearest rotation to a blended LBS matrix (polar factor), as core.skinning.nearest_rotation:
// scaled Newton steps X <- (g X + X^-T / g) / 2.
float frobenius(mat3 x) { return sqrt(dot(x[0], x[0]) + dot(x[1], x[1]) + dot(x[2], x[2])); }

mat3 nearest_rotation(mat3 x) {
    for (int i = 0; i < 4; ++i) {
        mat3 cof = mat3(cross(x[1], x[2]), cross(x[2], x[0]), cross(x[0], x[1]));
        float det = dot(x[0], cof[0]);
        det = abs(det) < 1e-12 ? 1e-12 : det;
        mat3 inv_t = cof * (1.0 / det);
        float g = sqrt(frobenius(inv_t) / max(frobenius(x), 1e-12));
        x = 0.5 * (g * x + inv_t * (1.0 / g));
    }
    return x;
}

mat4 blended_bone(uint gid) {
    uint p = skin_idx[gid];
    vec4 w = skin_w[gid];
    return w.x * bones[p & 255u] + w.y * bones[(p >> 8) & 255u]
         + w.z * bones[(p >> 16) & 255u] + w.w * bones[(p >> 24) & 255u];
}

void write_culled(uint gid) {
    splats[3u * gid] = vec4(-1e6, -1e6, 0.0, 0.0);
    splats[3u * gid + 1u] = vec4(0.0);
    splats[3u * gid + 2u] = vec4(0.0);
}

void main() {
    uint gid = gl_GlobalInvocationID.x;
    if (gid >= count) return;
    vec4 c0 = canon[3u * gid];
    vec4 quat = canon[3u * gid + 1u];
    vec4 sc = canon[3u * gid + 2u];
    vec3 mean = c0.xyz;
    mat3 rot = mat3(1.0);   // posed rotation = rot * canonical rotation (the polar factor of the blend)
    if (skinned) {
        mat4 m = blended_bone(gid);
        mean = (m * vec4(mean, 1.0)).xyz + transl;
        if (sc.w < 0.5) rot = nearest_rotation(mat3(m));
    }
    vec3 pc = (view * vec4(mean, 1.0)).xyz;
    if (!(pc.z > clip_z.x && pc.z < clip_z.y) || c0.w < alpha_min) { write_culled(gid); return; }

    mat3 rs = rot * quat_to_mat(quat) * mat3(sc.x, 0.0, 0.0, 0.0, sc.y, 0.0, 0.0, 0.0, sc.z);
    mat3 w = mat3(view);
    mat3 cov_c = w * (rs * transpose(rs)) * transpose(w);

    float fx = intrinsics.x, fy = intrinsics.y, cx = intrinsics.z, cy = intrinsics.w;
    float tan_x = 0.5 * image_size.x / fx, tan_y = 0.5 * image_size.y / fy;
    float tx = pc.z * clamp(pc.x / pc.z, -(cx / fx + 0.3 * tan_x), (image_size.x - cx) / fx + 0.3 * tan_x);
    float ty = pc.z * clamp(pc.y / pc.z, -(cy / fy + 0.3 * tan_y), (image_size.y - cy) / fy + 0.3 * tan_y);
    float iz = 1.0 / pc.z;
    // J is 2x3; as a GLSL mat3x2 (3 columns of vec2).
    mat3x2 jac = mat3x2(fx * iz, 0.0, 0.0, fy * iz, -fx * tx * iz * iz, -fy * ty * iz * iz);
    mat2 cov2d = jac * cov_c * transpose(jac);
    float a = cov2d[0][0] + eps2d, b = cov2d[0][1], c = cov2d[1][1] + eps2d;
    float det = a * c - b * b;
    if (det <= 0.0) { write_culled(gid); return; }

    vec2 mean2d = vec2(fx * pc.x * iz + cx, fy * pc.y * iz + cy);
    float r2 = 2.0 * log(max(c0.w * 255.0, 1.0));
    vec3 color = max(eval_sh(gid, sh_k, normalize(mean - campos)) + 0.5, vec3(0.0));
    splats[3u * gid] = vec4(mean2d, pc.z, c0.w);
    splats[3u * gid + 1u] = vec4(c / det, -b / det, a / det, sqrt(r2 * a));
    splats[3u * gid + 2u] = vec4(color, sqrt(r2 * c));
}
