#include <cstdio>

#include "geom/shapes.h"
#include "text/format.hpp"
#include "text/greeter.hpp"

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : "world";
  rect box = {{0.0, 0.0}, {4.0, 3.0}};
  std::printf("zcdemo %s\n", text::library_version());
  for (std::size_t i = 0; i < text::greeting_count(); ++i) {
    std::printf("%s\n", text::greet(i, name).c_str());
  }
  std::printf("box %s area %.1f\n", text::format_rect(box).c_str(), rect_area(box));
  return 0;
}
