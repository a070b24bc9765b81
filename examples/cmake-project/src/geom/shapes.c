#include "geom/shapes.h"

double rect_area(rect r) {
  double width = r.max.x - r.min.x;
  double height = r.max.y - r.min.y;
  return width * height;
}

vec2 rect_center(rect r) { return vec2_scale(vec2_add(r.min, r.max), 0.5); }
