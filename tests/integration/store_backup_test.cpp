// What README's "Backups" promises of the store file: a running jobd holds it exclusively (other
// programs get "database is locked" rather than a view that may be mid-commit), and a jobd that
// stopped leaves one file, its WAL folded in, that is the whole store: a copy of it serves
// every job to another jobd.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <string>

#include "harness.hpp"
#include "store_support.hpp"

using namespace jobd::testing;
using namespace std::chrono_literals;

TEST(StoreBackup, AStoppedJobdLeavesOneFileThatIsTheWholeStoreAndARunningOneLocksIt) {
  StoreDir dir;
  const std::string wal = dir.file() + "-wal";
  {
    JobdProcess server(store_jobd_args(dir));
    for (int i = 0; i < 5; ++i) {
      const auto done = submit(server.port(), {{"kind", "echo"}, {"params", {{"i", i}}}}, "?wait=5");
      ASSERT_EQ(done.status, 200) << done.body;
    }
    ASSERT_TRUE(std::filesystem::exists(wal)) << "a running jobd writes its WAL";
    std::string error;
    EXPECT_EQ(sqlite_query(dir.file(), "SELECT count(*) FROM jobs", &error), "");
    EXPECT_NE(error.find("locked"), std::string::npos)
        << "another program must not read a running store: " << error;
    EXPECT_EQ(server.stop(SIGTERM, 10s), 0);
  }
  EXPECT_FALSE(std::filesystem::exists(wal)) << "a stopped jobd folds its WAL into the file";
  EXPECT_EQ(sqlite_query(dir.file(), "SELECT count(*) FROM jobs"), "5");
  EXPECT_EQ(sqlite_query(dir.file(), "PRAGMA integrity_check"), "ok");

  const std::string copy = dir.file("copy.db");
  std::filesystem::copy_file(dir.file(), copy);
  JobdProcess restored({"--test-kinds", "--store", dir.uri("copy.db"), "--workers", "1", "--threads", "2"});
  const auto jobs = list_all(restored.port());
  ASSERT_EQ(jobs.size(), 5u);
  for (const auto& [id, job] : jobs) EXPECT_EQ(job["state"], "succeeded") << id;
}
