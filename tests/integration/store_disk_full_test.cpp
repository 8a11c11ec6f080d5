// A full disk under a real jobd: the store on a small tmpfs fills up; submits then answer 503
// store-unavailable with Retry-After, /readyz answers 503 naming the reason; once space returns
// jobd takes jobs again by itself, every acknowledged job is there (after a restart too), and
// the file passes PRAGMA integrity_check.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <set>

#include "harness.hpp"
#include "scoped_tmpfs.hpp"
#include "store_support.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;
using nlohmann::json;

TEST(StoreDiskFull, SubmitsAnswer503WhileFullAndJobdRecoversLosingNothingAcknowledged) {
  StoreDir dir;
  ScopedTmpfs small(dir.path() / "small", "4m");
  if (!small.error().empty()) GTEST_SKIP() << "needs root to mount a tmpfs: mount failed: " << small.error();
  const std::string path = (dir.path() / "small" / "jobd.db").string();
  const auto filler = dir.path() / "small" / "filler";
  {  // leave the store about 1 MiB
    std::ofstream out(filler, std::ios::binary);
    const std::string block(std::size_t{64} * 1024, 'f');
    for (int i = 0; i < 48; ++i) out.write(block.data(), static_cast<std::streamsize>(block.size()));
    ASSERT_TRUE(out.good());
  }
  const std::vector<std::string> args = {"--store", "sqlite:" + path, "--workers", "0"};
  std::set<std::string> acked;
  const std::string pad(std::size_t{16} * 1024, 'p');
  {
    JobdProcess server(args);
    // Fill the disk with 16 KiB jobs until jobd refuses one.
    HttpResult refused;
    for (int i = 0; i < 2000 && refused.status == 0; ++i) {
      const auto answer = http_request(server.port(), "POST", "/v1/jobs",
                                       json{{"kind", "echo"}, {"params", {{"i", i}, {"pad", pad}}}}.dump(),
                                       {{"Content-Type", "application/json"}}, 3s);
      if (answer.status == 202 || answer.status == 200)
        acked.insert(answer.json()["id"].get<std::string>());
      else if (answer.status != 0)  // 0: a submit caught waiting for its commit when the disk filled
        refused = answer;
    }
    ASSERT_EQ(refused.status, 503) << "the disk never filled up: " << refused.body;
    EXPECT_EQ(refused.json()["type"], "/problems/store-unavailable") << refused.body;
    EXPECT_FALSE(refused.header("retry-after").empty());
    const auto ready = get(server.port(), "/readyz");
    EXPECT_EQ(ready.status, 503);
    EXPECT_EQ(ready.json()["type"], "/problems/store-unavailable") << ready.body;
    EXPECT_NE(ready.json()["detail"].get<std::string>().find("full"), std::string::npos) << ready.body;
    const auto health = get(server.port(), "/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.json()["store"]["ok"], false) << health.body;

    std::filesystem::remove(filler);  // space returns: jobd recovers by itself
    EXPECT_TRUE(eventually([&] { return get(server.port(), "/readyz").status == 200; }, 10s)) << server.log();
    const auto after = submit(server.port(), {{"kind", "echo"}, {"params", {{"after", true}}}}, "?wait=5");
    ASSERT_EQ(after.status, 200) << after.body;
    acked.insert(after.json()["id"].get<std::string>());
    for (const auto& id : acked) EXPECT_EQ(get(server.port(), "/v1/jobs/" + id).status, 200) << id;
    EXPECT_NE(server.log().find("store failing"), std::string::npos) << server.log();
    EXPECT_NE(server.log().find("store commits again"), std::string::npos) << server.log();
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  }
  EXPECT_EQ(sqlite_query(path, "PRAGMA integrity_check"), "ok");
  JobdProcess server(args);
  const auto jobs = list_all(server.port());
  std::size_t missing = 0;
  for (const auto& id : acked) missing += jobs.contains(id) ? 0 : 1;
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged";
}
