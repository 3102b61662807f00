#version 430
// Screen-space overlay geometry (skeleton lines and joint dots), positions given in image pixels.
in vec2 in_pixel;
in vec4 in_color;
uniform vec4 ndc_map;
out vec4 v_color;

void main() {
    v_color = in_color;
    gl_Position = vec4(in_pixel.x * ndc_map.x + ndc_map.y, in_pixel.y * ndc_map.z + ndc_map.w, 0.0, 1.0);
}
