# Writes a C header with one table entry per non-empty line of INPUT.
# Deterministic: output depends only on INPUT's content and PROJECT_VERSION
# (no timestamps, no absolute paths), so twin build dirs get identical bytes.
file(STRINGS "${INPUT}" lines)
set(body "")
set(count 0)
foreach(line IN LISTS lines)
  string(STRIP "${line}" line)
  if(line STREQUAL "" OR line MATCHES "^#")
    continue()
  endif()
  string(REPLACE "\\" "\\\\" line "${line}")
  string(REPLACE "\"" "\\\"" line "${line}")
  string(APPEND body "    \"${line}\",\n")
  math(EXPR count "${count} + 1")
endforeach()
set(content "/* Generated from greetings.txt by generate_table.cmake; do not edit. */
#ifndef ZCDEMO_GREETINGS_TABLE_H
#define ZCDEMO_GREETINGS_TABLE_H

#define ZCDEMO_VERSION \"${PROJECT_VERSION}\"
#define GREETING_COUNT ${count}

static const char *const greeting_table[GREETING_COUNT] = {
${body}};

#endif
")
# Always write: the step is not restat, so the output must get a new mtime
# every time it runs or ninja would consider it dirty forever.
file(WRITE "${OUTPUT}" "${content}")
