// Opening a SqliteStore refuses, with one clear line, every file it must not write: one that
// another jobd holds (naming its pid), one that is not SQLite, one of another application, and
// one whose schema is newer than this binary knows. And it creates and migrates a new file.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "store/sqlite_schema.hpp"
#include "store_test_support.hpp"

using namespace jobd::store;
using namespace jobd::store::testing;

namespace {

std::string open_error(const std::string& path) {
  boost::asio::io_context io;
  auto opened = open_store("sqlite:" + path, {}, io.get_executor());
  return opened.store ? "" : opened.error;
}

TEST(StoreOpen, NewFileIsCreatedAsAJobdStoreAtTheLatestSchema) {
  TempDir dir;
  const auto path = dir.file("new.db");
  EXPECT_EQ(open_error(path), "");
  Database db;
  ASSERT_EQ(db.open(path, ""), "");
  EXPECT_EQ(db.query_int("PRAGMA application_id"), kApplicationId);
  EXPECT_EQ(db.query_int("PRAGMA user_version"), schema_version());
  EXPECT_EQ(db.query_text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(db.query_int("PRAGMA page_size"), 4096);
  EXPECT_EQ(schema_version(), 1);  // bump here, deliberately, with each migration
}

TEST(StoreOpen, AnEmptyFileIsANewStore) {
  TempDir dir;
  const auto path = dir.file("empty.db");
  std::ofstream(path).close();
  EXPECT_EQ(open_error(path), "");
}

TEST(StoreOpen, ASecondJobdOnTheSameFileIsRefusedNamingThePid) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the first jobd: holds the store until killed
    boost::asio::io_context io;
    auto opened = open_store("sqlite:" + path, {}, io.get_executor());
    const char answer = opened.store ? 'y' : 'n';
    if (::write(ready[1], &answer, 1) != 1) ::_exit(2);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char answer = 0;
  ASSERT_EQ(::read(ready[0], &answer, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(answer, 'y');
  EXPECT_EQ(open_error(path), path + " is in use by another jobd (pid " + std::to_string(child) + ")");
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(open_error(path), "") << "the kernel releases the lock of a killed jobd";
}

TEST(StoreOpen, TheSameFileTwiceInOneProcessIsRefused) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  boost::asio::io_context io;
  auto first = open_store("sqlite:" + path, {}, io.get_executor());
  ASSERT_TRUE(first.store) << first.error;
  EXPECT_EQ(open_error(path),
            path + " is already open in this jobd (pid " + std::to_string(::getpid()) + ")");
  first.store->close();
  EXPECT_EQ(open_error(path), "");
}

TEST(StoreOpen, ANonSqliteFileIsRefused) {
  TempDir dir;
  const auto path = dir.file("notes.txt");
  std::ofstream out(path);
  for (int i = 0; i < 200; ++i) out << "this is a text file, not a database\n";
  out.close();
  EXPECT_EQ(open_error(path), path + " is not an SQLite database");
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "this is a text file, not a database") << "the file must be left as it was";
}

TEST(StoreOpen, AnSqliteFileOfAnotherApplicationIsRefused) {
  TempDir dir;
  const auto path = dir.file("other.db");
  raw_exec(path, "PRAGMA application_id = 305419896; CREATE TABLE t (x);");  // 0x12345678
  EXPECT_EQ(
      open_error(path),
      path +
          " is an SQLite database of another application (application_id 0x12345678, jobd's is 0x6a6f6264)");
}

TEST(StoreOpen, AnSqliteFileWithTablesButNoApplicationIdIsRefused) {
  TempDir dir;
  const auto path = dir.file("other.db");
  raw_exec(path, "CREATE TABLE accounts (id INTEGER); CREATE TABLE jobs (x);");
  EXPECT_EQ(
      open_error(path),
      path +
          " is an SQLite database of another application (no jobd application_id; tables: accounts, jobs)");
}

TEST(StoreOpen, ASchemaNewerThanThisBinaryIsRefusedAndLeftUntouched) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  ASSERT_EQ(open_error(path), "");
  raw_exec(path, "PRAGMA user_version = 99");
  EXPECT_EQ(open_error(path),
            path + " has schema version 99, newer than this jobd knows (1): run a newer jobd");
  Database db;
  ASSERT_EQ(db.open(path, ""), "");
  EXPECT_EQ(db.query_int("PRAGMA user_version"), 99);
}

TEST(StoreOpen, ACorruptTableIsReportedByLoad) {
  TempDir dir;
  const auto path = dir.file("jobs.db");
  {
    Loop loop;
    auto store = open_or_fail(path, loop.io);
    ASSERT_TRUE(store);
    for (std::uint64_t seq = 1; seq <= 2000; ++seq) store->write(insert(job_row(seq, 3, 200)));
    ASSERT_TRUE(store->close().ok);  // checkpoints: every row is in the main file now
  }
  {
    // Overwrite the middle of the file (table pages, not the header) with garbage.
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(std::streamoff{40} * 4096);
    const std::string garbage(std::size_t{3} * 4096, '\x5a');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  boost::asio::io_context io;
  auto opened = open_store("sqlite:" + path, {}, io.get_executor());
  ASSERT_TRUE(opened.store) << opened.error;
  const auto loaded = opened.store->load([](JobRow&) {});
  EXPECT_NE(loaded.error.find("malformed"), std::string::npos) << loaded.error;
  EXPECT_EQ(loaded.error.find('\n'), std::string::npos);
}

TEST(StoreOpen, AMissingDirectoryIsOneClearLine) {
  TempDir dir;
  const auto path = dir.file("missing/jobs.db");
  EXPECT_EQ(open_error(path), "cannot open " + path + ".lock: No such file or directory");
}

}  // namespace
