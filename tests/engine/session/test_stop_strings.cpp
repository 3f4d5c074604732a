#include "session/stop_strings.h"

#include <gtest/gtest.h>

using namespace hlwq;

TEST(StopStrings, HoldsBackPartialMatchesAndStops) {
  StopStringFilter f({"END", "###"});
  auto r = f.push("hello E");
  EXPECT_EQ(r.text, "hello ");
  EXPECT_FALSE(r.stopped);
  r = f.push("N");
  EXPECT_EQ(r.text, "");
  r = f.push("Dtail");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
}

TEST(StopStrings, ReleasesWhatTurnsOutNotToMatch) {
  StopStringFilter f({"END"});
  std::string out;
  for (const char* p : {"E", "N", "x", " done"}) out += f.push(p).text;
  out += f.flush();
  EXPECT_EQ(out, "ENx done");
}

TEST(StopStrings, NoStopsPassesEverything) {
  StopStringFilter f({});
  EXPECT_EQ(f.push("abc").text, "abc");
  StopStringFilter g({"é!"});
  auto r = g.push("caf\xc3\xa9");  // the é may start the stop string: held back whole
  EXPECT_EQ(r.text, "caf");
  EXPECT_EQ(g.flush(), "\xc3\xa9");
}
