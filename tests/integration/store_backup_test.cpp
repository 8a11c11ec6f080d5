// What README's "Backups" promises of the store file: a running jobd holds it exclusively (other
// programs get "database is locked" rather than a view that may be mid-commit), and a jobd that
// stopped leaves one file, its WAL folded in, that is the whole store: a copy of it serves
// every job to another jobd. And the online backup (POST /v1/store/backup, --backup-dir): a
// copy written while jobs go on holds every job acknowledged before it was asked for, whole or
// not at all, the newest --backup-keep copies kept.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

namespace {

HttpResult ask_backup(std::uint16_t port) {
  return http_request(port, "POST", "/v1/store/backup", "", {}, 60s);
}

// The files in `dir`, by name.
std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Jobs whose params make the store a few MiB, so that a copy takes several steps.
nlohmann::json bulky_job(int i) {
  return {{"kind", "echo"}, {"params", {{"i", i}, {"pad", std::string(4000, 'x')}}}};
}

}  // namespace

TEST(StoreBackup, AnOnlineCopyHoldsEveryJobAcknowledgedBeforeItWhileSubmitsGoOn) {
  StoreDir dir;
  const auto copies = dir.path() / "copies";
  std::filesystem::create_directory(copies);
  JobdProcess server(store_jobd_args(dir, {"--backup-dir", copies.string()}));
  std::set<std::string> before;
  for (int i = 0; i < 1500; ++i) {
    const auto done = submit(server.port(), bulky_job(i), "?wait=5");
    ASSERT_EQ(done.status, 200) << done.body;
    before.insert(done.json()["id"].get<std::string>());
  }
  // Submits go on during the copy, on other connections; each must still be acknowledged.
  std::atomic<bool> stop{false};
  std::atomic<int> during{0}, refused{0};
  std::thread submitter([&] {
    for (int i = 0; !stop; ++i) {
      const auto done = submit(server.port(), bulky_job(100000 + i), "?wait=5");
      (done.status == 200 ? during : refused)++;
    }
  });
  const auto backup = ask_backup(server.port());
  stop = true;
  submitter.join();
  ASSERT_EQ(backup.status, 200) << backup.body;
  EXPECT_EQ(refused, 0);
  const auto answer = backup.json();
  const std::string path = answer["path"];
  EXPECT_EQ(std::filesystem::path(path).parent_path(), copies);
  EXPECT_EQ(answer["bytes"].get<std::uintmax_t>(), std::filesystem::file_size(path));
  EXPECT_GT(answer["bytes"].get<std::uintmax_t>(), 6u << 20) << "the copy holds the jobs' params";
  EXPECT_EQ(files_in(copies), std::vector<std::string>{std::filesystem::path(path).filename().string()})
      << "one whole copy, nothing partial left beside it";
  EXPECT_EQ(sqlite_query(path, "PRAGMA integrity_check"), "ok");

  // Another jobd on (a copy of) the backup serves every job acknowledged before it was asked for.
  std::filesystem::copy_file(path, dir.file("restored.db"));
  JobdProcess restored(
      {"--test-kinds", "--store", dir.uri("restored.db"), "--workers", "1", "--threads", "2"});
  const auto jobs = list_all(restored.port());
  for (const auto& id : before) {
    const auto it = jobs.find(id);
    ASSERT_NE(it, jobs.end()) << id << " was acknowledged before the backup and is not in it";
    EXPECT_EQ(it->second["state"], "succeeded") << id;
  }
  EXPECT_GE(jobs.size(), before.size());
  EXPECT_LE(jobs.size(), before.size() + static_cast<std::size_t>(during.load()));
  const auto metrics = get(server.port(), "/metrics");
  EXPECT_NE(metrics.body.find("jobd_store_backups_total{result=\"ok\"} 1"), std::string::npos);
}

TEST(StoreBackup, TheNewestCopiesAreKeptOneBackupRunsAtATimeAndAFailureLeavesNothing) {
  StoreDir dir;
  const auto copies = dir.path() / "copies";
  std::filesystem::create_directory(copies);
  // A file of another program's in the directory is never rotated away.
  { std::ofstream(copies / "notes.txt") << "mine"; }
  JobdProcess server(store_jobd_args(dir, {"--backup-dir", copies.string(), "--backup-keep", "2"}));
  for (int i = 0; i < 1500; ++i) ASSERT_EQ(submit(server.port(), bulky_job(i), "?wait=5").status, 200);

  std::vector<std::string> written;
  for (int i = 0; i < 4; ++i) {
    const auto backup = ask_backup(server.port());
    ASSERT_EQ(backup.status, 200) << backup.body;
    written.push_back(std::filesystem::path(backup.json()["path"].get<std::string>()).filename().string());
  }
  EXPECT_EQ(files_in(copies), (std::vector<std::string>{written[2], written[3], "notes.txt"}));

  // Two at once: the second is refused while the first is written (a few MiB: tens of ms).
  RawConnection first(server.port()), second(server.port());
  const std::string request = "POST /v1/store/backup HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
  ASSERT_TRUE(first.send(request));
  ASSERT_TRUE(second.send(request));
  const auto one = first.read_responses(1, 60s);
  const auto two = second.read_responses(1, 60s);
  ASSERT_EQ(one.size(), 1u);
  ASSERT_EQ(two.size(), 1u);
  std::multiset<int> statuses{one[0].status, two[0].status};
  EXPECT_EQ(statuses, (std::multiset<int>{200, 409})) << one[0].body << two[0].body;
  const auto& busy = one[0].status == 409 ? one[0] : two[0];
  EXPECT_EQ(busy.json()["type"], "/problems/backup-in-progress");

  // The directory gone: a clear 500, nothing left half-written, and the next backup works again.
  std::filesystem::remove_all(copies);
  const auto failed = ask_backup(server.port());
  EXPECT_EQ(failed.status, 500) << failed.body;
  EXPECT_EQ(failed.json()["type"], "/problems/backup-failed");
  EXPECT_NE(failed.json()["detail"].get<std::string>().find("copies"), std::string::npos) << failed.body;
  std::filesystem::create_directory(copies);
  const auto again = ask_backup(server.port());
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(files_in(copies).size(), 1u);
  const auto metrics = get(server.port(), "/metrics").body;
  EXPECT_NE(metrics.find("jobd_store_backups_total{result=\"failed\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("jobd_store_backups_total{result=\"ok\"} 6"), std::string::npos) << metrics;
  EXPECT_EQ(server.stop(SIGTERM, 10s), 0);
}

TEST(StoreBackup, RefusedWithoutABackupDirectoryAndForStoresWithoutAFile) {
  StoreDir dir;
  {
    JobdProcess server(store_jobd_args(dir));
    const auto off = ask_backup(server.port());
    EXPECT_EQ(off.status, 409) << off.body;
    EXPECT_EQ(off.json()["type"], "/problems/backup-unavailable");
    EXPECT_NE(off.json()["detail"].get<std::string>().find("--backup-dir"), std::string::npos) << off.body;
  }
  {
    JobdProcess memory({"--store", "memory:", "--workers", "0"});
    const auto none = ask_backup(memory.port());
    EXPECT_EQ(none.status, 409) << none.body;
    EXPECT_EQ(none.json()["type"], "/problems/backup-unavailable");
  }
  // Start-up refuses a backup directory that cannot work, with one line naming it.
  const auto on_memory =
      run_jobd_until_exit("--workers 0 --store memory: --backup-dir " + dir.path().string());
  EXPECT_EQ(on_memory.exit_code, 2) << on_memory.output;
  EXPECT_NE(on_memory.output.find("--backup-dir"), std::string::npos) << on_memory.output;
  const auto missing =
      run_store_jobd_until_exit("--store " + dir.uri() + " --backup-dir " + dir.file("nowhere"));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("not a directory"), std::string::npos) << missing.output;
}
