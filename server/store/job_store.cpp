#include "store/job_store.hpp"

#include "store/memory_store.hpp"
#include "store/sqlite_store.hpp"

namespace jobd::store {

void JobStore::backup(std::function<void(BackupResult)> done) {
  const auto answer = std::move(done);  // a sink, as in the stores that keep it for later
  answer({.error = BackupResult::Error::unavailable,
          .detail = "this job store keeps no file: only --store sqlite:PATH is backed up by jobd"});
}

OpenedStore open_store(std::string_view uri, const StoreOptions& options, boost::asio::any_io_executor loop) {
  constexpr std::string_view kSqlite = "sqlite:";
  if (uri == "memory:") return {std::make_unique<MemoryStore>(), {}};
  if (uri.starts_with(kSqlite)) {
    const std::string path(uri.substr(kSqlite.size()));
    if (path.empty()) return {nullptr, "--store sqlite: needs a file path, e.g. sqlite:jobd.db"};
    return SqliteStore::open(path, options, std::move(loop));
  }
  return {nullptr, "--store '" + std::string(uri) + "': unknown store (memory: or sqlite:PATH)"};
}

}  // namespace jobd::store
