#version 430
// A constant colour; with the blend (ONE_MINUS_DST_ALPHA, ONE | ZERO, ONE) it puts the background
// under what front-to-back splatting accumulated, leaving the coverage alpha untouched.
uniform vec3 fill_color;
layout(location = 0) out vec4 out_color;

void main() {
    out_color = vec4(fill_color, 1.0);
}
