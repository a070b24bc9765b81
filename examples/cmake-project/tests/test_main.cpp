#include <cstdio>
#include <cstring>

#include "greetings_table.h"
#include "text/format.hpp"
#include "text/greeter.hpp"

extern "C" int run_geom_tests(void);

static int failures = 0;

static void check(bool ok, const char *what) {
  if (!ok) {
    std::printf("FAIL: %s\n", what);
    ++failures;
  }
}

int main() {
  int geom_failures = run_geom_tests();
  check(geom_failures == 0, "geometry checks");
  check(text::greeting_count() == GREETING_COUNT, "greeting count matches table");
  check(text::greet(0, "zc") == std::string(greeting_table[0]) + ", zc!", "greet");
  check(std::strcmp(text::library_version(), ZCDEMO_VERSION) == 0, "version");
  rect box = {{0.0, 0.0}, {2.0, 1.0}};
  check(text::format_rect(box).find("(2.00, 1.00)") != std::string::npos, "format_rect");
  if (failures != 0) {
    std::printf("%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}
