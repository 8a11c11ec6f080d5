// A subprocess job's output through the real jobd: 50 MB capped without a deadlock, lines
// published as events while watched (split, made valid UTF-8, the last one without a newline),
// and binary output as base64.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "subprocess_fixture.hpp"

using namespace jobd::testing;
using namespace jobd::testing::subprocess;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

TEST(Subprocess, FiftyMegabytesOfOutputAreCappedWithoutDeadlock) {
  Fixture f;
  const auto start = Clock::now();
  auto job = run(f.port(), "flood");
  EXPECT_EQ(job["state"], "succeeded") << job.dump().substr(0, 500);
  EXPECT_EQ(job["stdout"].get<std::string>().size(), 65536u);
  EXPECT_EQ(job["stdout"].get<std::string>().substr(0, 17), "0123456789abcdef\n");
  EXPECT_EQ(job["truncated"]["stdout"], true);
  EXPECT_EQ(job["truncated"]["stderr"], false);
  EXPECT_EQ(job["stderr"], "done\n");  // written after the 50 MB: the child never blocked
  EXPECT_LT(Clock::now() - start, 20s);
}

TEST(Subprocess, OutputLinesArePublishedAsEventsWhileWatched) {
  Fixture f;
  const auto id = submit_id(f.port(), "talker");
  RawConnection watcher(f.port());
  ASSERT_TRUE(watcher.send("GET /v1/jobs/" + id +
                           "/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"));
  // The first bytes mean the stream is subscribed; only then may the script talk.
  const std::string first = watcher.read_some(5s);
  ASSERT_FALSE(first.empty());
  std::ofstream(f.ws.path("talk")) << "go";
  const std::string raw = first + watcher.read_all(15s);
  std::vector<std::string> out, err;
  std::istringstream lines(raw);
  std::string line, type;
  while (std::getline(lines, line)) {
    if (line.starts_with("event: ")) type = line.substr(7);
    if (!line.starts_with("data: ")) continue;
    const json data = json::parse(line.substr(6));
    if (type == "stdout") out.push_back(data["line"]);
    if (type == "stderr") err.push_back(data["line"]);
  }
  EXPECT_EQ(out, (std::vector<std::string>{"one",
                                           "bin\xEF\xBF\xBD"
                                           "ary",
                                           "no newline"}))
      << raw;
  EXPECT_EQ(err, std::vector<std::string>{"two"});
}

TEST(Subprocess, BinaryOutputIsReturnedAsBase64) {
  Fixture f;
  auto job = run(f.port(), "binary");
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_FALSE(job.contains("stdout"));
  EXPECT_EQ(job["stdout_base64"], "//4=");
}
