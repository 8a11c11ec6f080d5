// POST /v1/store/backup: a consistent copy of the job store, written while jobs go on
// (JobStore::backup; README, "Backups"). The request waits for the copy and answers where it
// went; one backup at a time.
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "api/api.hpp"

namespace jobd::api {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using proto::Problem;
namespace problems = proto::problems;

asio::awaitable<Response> Api::backup_store(const Request&, std::string_view) {
  if (options_.backups == nullptr) {
    co_return Response::problem(Problem{problems::backup_unavailable, "this jobd keeps no job store file"});
  }
  store::JobStore& store = *options_.backups;
  // The store's callback runs on the loop, possibly at once: the coroutine resumes from a post.
  store::BackupResult result =
      co_await asio::async_initiate<decltype(asio::use_awaitable), void(store::BackupResult)>(
          [&store](auto handler) {
            auto waiting = std::make_shared<decltype(handler)>(std::move(handler));
            store.backup([waiting](store::BackupResult done) {
              auto executor = asio::get_associated_executor(*waiting);
              asio::post(executor, [waiting, done = std::move(done)]() mutable {
                std::move (*waiting)(std::move(done));
              });
            });
          },
          asio::use_awaitable);
  using Error = store::BackupResult::Error;
  switch (result.error) {
    case Error::none: break;
    case Error::unavailable:
      co_return Response::problem(Problem{problems::backup_unavailable, result.detail});
    case Error::busy: co_return Response::problem(Problem{problems::backup_in_progress, result.detail});
    case Error::failed: co_return Response::problem(Problem{problems::backup_failed, result.detail});
  }
  nlohmann::json body = {{"path", result.path}, {"bytes", result.bytes}, {"took_ms", result.took.count()}};
  if (!result.detail.empty()) body["warning"] = result.detail;
  co_return Response::json(200, body);
}

}  // namespace jobd::api
