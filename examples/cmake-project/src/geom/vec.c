#include "geom/vec.h"

vec2 vec2_add(vec2 a, vec2 b) {
  vec2 sum = {a.x + b.x, a.y + b.y};
  return sum;
}

vec2 vec2_scale(vec2 v, double factor) {
  vec2 scaled = {v.x * factor, v.y * factor};
  return scaled;
}

double vec2_dot(vec2 a, vec2 b) { return a.x * b.x + a.y * b.y; }
