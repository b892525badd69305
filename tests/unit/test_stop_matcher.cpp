// test_stop_matcher.cpp: stop strings found across piece boundaries, the text
// before them released exactly once, possible starts held back, UTF-8 kept whole.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/error.h"
#include "generate/generate.h"

using mola::StopMatcher;

namespace {

// Feeds pieces one by one; returns the released text and whether it stopped.
std::pair<std::string, bool> run(std::vector<std::string> stops, const std::vector<std::string>& pieces) {
    StopMatcher m(std::move(stops));
    std::string out;
    for (const std::string& p : pieces) out += m.push(p);
    if (!m.stopped()) out += m.flush();
    return {out, m.stopped()};
}

}  // namespace

TEST_CASE("stop matcher: a stop string inside one piece cuts there", "[stop]") {
    CHECK(run({"\n\n"}, {"abc\n\ndef"}) == std::make_pair(std::string("abc"), true));
}

TEST_CASE("stop matcher: a stop string split over pieces is found and never released", "[stop]") {
    StopMatcher m({"</end>"});
    CHECK(m.push("x = 1 </") == "x = 1 ");  // "</" may start the stop string: held
    CHECK(m.push("en") == "");
    CHECK(m.push("d> tail") == "");
    CHECK(m.stopped());
    CHECK(m.push("more") == "");
    CHECK(run({"abc"}, {"a", "b", "c"}) == std::make_pair(std::string(""), true));
    CHECK(run({"abc"}, {"xa", "bx", "abc"}) == std::make_pair(std::string("xabx"), true));
}

TEST_CASE("stop matcher: held text is released when the next piece rules the stop out", "[stop]") {
    StopMatcher m({"STOP"});
    CHECK(m.push("ST") == "");
    CHECK(m.push("ART") == "START");
    CHECK(m.push("S") == "");
    CHECK(m.flush() == "S");
    CHECK_FALSE(m.stopped());
}

TEST_CASE("stop matcher: the earliest of several stop strings wins", "[stop]") {
    CHECK(run({"world", "lo w"}, {"hello world"}) == std::make_pair(std::string("hel"), true));
    CHECK(run({"bb", "abbb"}, {"xa", "bbb"}) == std::make_pair(std::string("x"), true));
}

TEST_CASE("stop matcher: without stop strings everything passes through at once", "[stop]") {
    StopMatcher m({});
    CHECK(m.push("abc") == "abc");
    CHECK(m.flush().empty());
}

TEST_CASE("stop matcher: multi-byte characters are never split", "[stop]") {
    // "é" is C3 A9; the stop "éx" must hold back the whole "é", never half of it.
    StopMatcher m({"\xC3\xA9x"});
    CHECK(m.push("caf\xC3\xA9") == "caf");
    CHECK(m.push("!") == "\xC3\xA9!");
    CHECK(run({"\xE2\x86\x92"}, {"a \xE2\x86\x92 b"}) == std::make_pair(std::string("a "), true));
}

TEST_CASE("stop matcher: empty or invalid stop strings are refused", "[stop]") {
    CHECK_THROWS_AS(StopMatcher({""}), mola::Error);
    CHECK_THROWS_AS(StopMatcher({"ok", "\xC3"}), mola::Error);
}
