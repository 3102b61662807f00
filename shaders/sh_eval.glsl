// Real spherical harmonics, degree 0..3, standard 3DGS constants.
// Reads `k` coefficients per channel for Gaussian `gid` from the `sh` buffer laid out [N][K][3].
const float SH_C0 = 0.28209479177387814;
const float SH_C1 = 0.4886025119029199;
const float SH_C2[5] = float[5](1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
                                -1.0925484305920792, 0.5462742152960396);
const float SH_C3[7] = float[7](-0.5900435899266435, 2.890611442640554, -0.4570457994644658,
                                0.3731763325901154, -0.4570457994644658, 1.445305721320277,
                                -0.5900435899266435);

vec3 sh_coeff(uint gid, uint k, uint j) {
    uint base = (gid * k + j) * 3u;
    return vec3(sh[base], sh[base + 1u], sh[base + 2u]);
}

// dir: unit vector from the camera centre to the Gaussian (world space).
vec3 eval_sh(uint gid, uint k, vec3 dir) {
    vec3 c = SH_C0 * sh_coeff(gid, k, 0u);
    if (k < 4u) return c;
    float x = dir.x, y = dir.y, z = dir.z;
    c += -SH_C1 * y * sh_coeff(gid, k, 1u) + SH_C1 * z * sh_coeff(gid, k, 2u) - SH_C1 * x * sh_coeff(gid, k, 3u);
    if (k < 9u) return c;
    float xx = x * x, yy = y * y, zz = z * z, xy = x * y, yz = y * z, xz = x * z;
    c += SH_C2[0] * xy * sh_coeff(gid, k, 4u) + SH_C2[1] * yz * sh_coeff(gid, k, 5u)
       + SH_C2[2] * (2.0 * zz - xx - yy) * sh_coeff(gid, k, 6u) + SH_C2[3] * xz * sh_coeff(gid, k, 7u)
       + SH_C2[4] * (xx - yy) * sh_coeff(gid, k, 8u);
    if (k < 16u) return c;
    c += SH_C3[0] * y * (3.0 * xx - yy) * sh_coeff(gid, k, 9u)
       + SH_C3[1] * xy * z * sh_coeff(gid, k, 10u)
       + SH_C3[2] * y * (4.0 * zz - xx - yy) * sh_coeff(gid, k, 11u)
       + SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy) * sh_coeff(gid, k, 12u)
       + SH_C3[4] * x * (4.0 * zz - xx - yy) * sh_coeff(gid, k, 13u)
       + SH_C3[5] * z * (xx - yy) * sh_coeff(gid, k, 14u)
       + SH_C3[6] * x * (xx - 3.0 * yy) * sh_coeff(gid, k, 15u);
    return c;
}
