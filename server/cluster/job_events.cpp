// Event streams across replicas (DESIGN §2 "Replicas on Redis"): each job has a capped stream
// in Redis (`ev:{id}`, entry ids 0-1, 0-2, ...: the SSE ids). Its state events are written by the
// scripts that change the state; the progress and output of an attempt by the replica that runs
// it, batched here (one script per 50 ms for all its jobs, never a round trip per line). A
// replica's SSE followers of a job share one reader: the `jevents` (appends) and `events`
// (states) channels, which every replica already hears on its one subscriber connection, wake
// it, and it reads on from its last id with XRANGE on the commands connection; a poll every
// second reads the jobs whose followers heard no message since the poll before, to cover a
// message lost while the subscriber reconnected (a busy job's messages keep it from the poll).
// No connection per follower.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "cluster/cluster.hpp"
#include "cluster/remote_record.hpp"
#include "jobs/job_rows.hpp"
#include "jobs/scheduler.hpp"

namespace jobd::cluster {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using proto::Problem;

namespace {
// Progress and output wait this long for others before they go to Redis in one script.
constexpr auto kEventFlush = 50ms;
// ... or go at once when this many are waiting.
constexpr std::size_t kEventFlushCount = 512;
// Events read per page.
constexpr std::size_t kEventPage = 1000;
// Followed jobs that heard no message for this long are read without one (one lost in a
// reconnect is missed for at most two of these).
constexpr auto kFollowPoll = 1000ms;

std::optional<jobs::EventType> event_type(std::string_view name) {
  for (auto type : {jobs::EventType::state, jobs::EventType::progress, jobs::EventType::stdout_line,
                    jobs::EventType::stderr_line}) {
    if (jobs::to_string(type) == name) return type;
  }
  return std::nullopt;
}
}  // namespace

// ---- the writer: progress and output of the attempts run here ------------------------------

void Cluster::watch_held(const jobs::Job& job) {
  auto it = held_.find(job.id);
  if (it == held_.end()) return;
  it->second.watch = scheduler_.table().watch(
      job.seq, [this](const jobs::Job& changed, const jobs::JobEvent& event) { note_event(changed, event); },
      jobs::Watch::events);
}

void Cluster::unwatch_held(Held& held) {
  if (!held.watch) return;
  scheduler_.table().unwatch(held.seq, *held.watch);
  held.watch.reset();
}

void Cluster::note_event(const jobs::Job& job, const jobs::JobEvent& event) {
  // State events are the scripts' (written with the state, fenced with it).
  if (event.type == jobs::EventType::state) return;
  store::EventAppend& append = pending_events_[job.id];
  if (append.id.empty()) {
    append.id = job.id;
    append.attempt = job.attempt;
  }
  append.events.push_back(
      {std::string(jobs::to_string(event.type)),
       event.type == jobs::EventType::progress ? nlohmann::json(event.fraction).dump() : "", event.text});
  if (++pending_event_count_ >= kEventFlushCount) {
    flush_events();
    return;
  }
  if (!events_flush_armed_) {
    events_flush_armed_ = true;
    events_flush_->expires_after(kEventFlush);
    events_flush_->async_wait([this](boost::system::error_code error) {
      events_flush_armed_ = false;
      if (!error && !stopped_) flush_events();
    });
  }
}

void Cluster::flush_events() {
  if (pending_events_.empty() || stopped_) return;
  std::vector<store::EventAppend> batch;
  batch.reserve(pending_events_.size());
  for (auto& [id, append] : pending_events_) batch.push_back(std::move(append));
  pending_events_.clear();
  pending_event_count_ = 0;
  // Sent now, on the commands connection: a finish issued after it runs after it in Redis, so a
  // job's output always comes before its final event. Lost when Redis is away (as a full SSE
  // buffer drops events); the states are not.
  asio::co_spawn(loop_, write_events(std::move(batch)), asio::detached);
}

asio::awaitable<void> Cluster::write_events(std::vector<store::EventAppend> batch) {
  auto appended = co_await jobs_->append_events(options_.replica_id, std::move(batch));
  if (!appended.ok() && !appends_failing_) spdlog::warn("job events not written: {}", appended.detail);
  appends_failing_ = !appended.ok();
}

// ---- the readers: SSE followers ------------------------------------------------------------

JobEventPage Cluster::page_of(store::EventPage& stored, std::size_t asked) {
  JobEventPage page;
  if (!stored.job) return page;
  page.found = true;
  store::JobRow& row = stored.job->row;
  const bool final = proto::is_final(row.state);
  page.job = remote_job(row, kind_named(row.kind));
  for (auto& event : stored.events) {
    const auto type = event_type(event.type);
    if (!type) continue;
    jobs::JobEvent out;
    out.id = event.id;
    out.type = *type;
    if (*type == jobs::EventType::state) {
      out.state = proto::parse_job_state(event.state).value_or(proto::JobState::queued);
      out.at = jobs::from_unix_ms(event.at_ms);
    }
    out.fraction = event.fraction;
    out.text = std::move(event.text);
    page.events.push_back(std::move(out));
  }
  // The final state event is written with the final state: a final job whose stream was read
  // to its end has nothing more to come.
  page.ended = final && stored.events.size() < asked;
  return page;
}

asio::awaitable<std::variant<JobEventPage, Problem>> Cluster::read_events(std::string id,
                                                                          std::uint64_t after) {
  auto read = co_await jobs_->read_events(std::move(id), after, kEventPage);
  if (!read.ok()) co_return unavailable("cannot read the job's events", read.detail);
  if (!read.value.job) {
    co_return Problem{proto::problems::job_not_found, "no job with that id", std::nullopt, std::nullopt};
  }
  co_return page_of(read.value, kEventPage);
}

FollowId Cluster::follow(const std::string& id, std::uint64_t after, EventPageHandler handler) {
  auto [it, made] = follows_.try_emplace(id);
  FollowGroup& group = it->second;
  // A newcomer behind the others makes the group read from its id; the others skip what they saw.
  group.cursor = made ? after : std::min(group.cursor, after);
  const FollowId follow = next_follow_++;
  group.handlers.emplace(follow, std::move(handler));
  ++followers_;
  return follow;
}

void Cluster::unfollow(const std::string& id, FollowId follow) {
  auto it = follows_.find(id);
  if (it == follows_.end() || it->second.handlers.erase(follow) == 0) return;
  --followers_;
  if (it->second.handlers.empty() && !it->second.reading) follows_.erase(it);
}

void Cluster::wake_followers(std::string_view id) {
  // Found by the view (follows_ hashes transparently): most ids a message names are followed
  // nowhere here, and cost no string.
  auto it = follows_.find(id);
  if (it == follows_.end()) return;
  it->second.heard = true;
  read_group(it->first, it->second);
}

void Cluster::read_group(const std::string& id, FollowGroup& group) {
  if (group.reading) {
    group.again = true;
    return;
  }
  group.reading = true;
  // The reader outlives the message: it keeps a copy of the id.
  asio::co_spawn(loop_, read_followed(id), asio::detached);
}

asio::awaitable<void> Cluster::read_followed(std::string id) {
  bool again = true;
  while (again && !stopped_) {
    auto it = follows_.find(id);
    if (it == follows_.end()) co_return;
    it->second.again = false;
    auto read = co_await jobs_->read_events(id, it->second.cursor, kEventPage);
    it = follows_.find(id);  // followers may have left meanwhile
    if (it == follows_.end() || stopped_) co_return;
    if (!read.ok()) break;  // Redis away: the poll tries again
    JobEventPage page = page_of(read.value, kEventPage);
    if (!page.events.empty()) it->second.cursor = std::max(it->second.cursor, page.events.back().id);
    // Handlers may unfollow (their stream ended): call them from a copy of the ids.
    std::vector<FollowId> ids;
    for (const auto& [follow, handler] : it->second.handlers) ids.push_back(follow);
    for (FollowId follow : ids) {
      auto group = follows_.find(id);
      if (group == follows_.end()) break;
      if (auto handler = group->second.handlers.find(follow); handler != group->second.handlers.end()) {
        // A copy: the handler may unfollow itself.
        EventPageHandler call = handler->second;
        call(page);
      }
    }
    it = follows_.find(id);
    if (it == follows_.end()) co_return;
    again = it->second.again || read.value.events.size() >= kEventPage;
  }
  auto it = follows_.find(id);
  if (it == follows_.end()) co_return;
  it->second.reading = false;
  if (it->second.handlers.empty()) follows_.erase(it);
}

asio::awaitable<void> Cluster::follow_poll_loop() {
  asio::steady_timer timer(loop_);
  while (!stopped_) {
    timer.expires_after(kFollowPoll);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopped_) co_return;
    // Only the quiet ones: a message since the last round means the channel works for that job
    // (and its reader ran); 10k followed jobs with output cost no XRANGE here.
    std::vector<std::string> quiet;
    for (auto& [id, group] : follows_) {
      if (!group.heard) quiet.push_back(id);
      group.heard = false;
    }
    for (const auto& id : quiet) {
      if (auto it = follows_.find(id); it != follows_.end()) read_group(it->first, it->second);
    }
  }
}

// ---- /v1/events: every replica's state changes ---------------------------------------------

void Cluster::on_states(StateHandler handler, std::function<bool()> wanted) {
  state_handler_ = std::move(handler);
  states_wanted_ = std::move(wanted);
}

void Cluster::note_state(const std::string& payload) {
  if (!state_handler_ || !states_wanted_ || !states_wanted_()) return;
  const auto event = nlohmann::json::parse(payload, nullptr, false);
  if (!event.is_object() || !event.contains("id") || !event["id"].is_string() || !event.contains("state") ||
      !event["state"].is_string())
    return;
  const auto state = proto::parse_job_state(event["state"].get<std::string>());
  if (!state) return;
  const std::int64_t at =
      event.contains("at") && event["at"].is_number() ? event["at"].get<std::int64_t>() : now_ms();
  states_pending_.push_back({event["id"].get<std::string>(), *state, at});
  if (states_reading_) return;  // the reader takes it with the next batch
  states_reading_ = true;
  asio::co_spawn(loop_, read_states(), asio::detached);
}

asio::awaitable<void> Cluster::read_states() {
  // One read of the records for every change heard meanwhile; the changes in the order heard.
  while (!states_pending_.empty() && !stopped_) {
    std::vector<StateChange> changes = std::move(states_pending_);
    states_pending_.clear();
    std::vector<std::string> ids;
    for (const auto& change : changes) {
      if (std::find(ids.begin(), ids.end(), change.id) == ids.end()) ids.push_back(change.id);
    }
    auto read = co_await jobs_->job_hashes(std::move(ids));
    if (stopped_) co_return;
    if (!read.ok() || !state_handler_) continue;  // Redis away: those changes are not shown
    for (const auto& change : changes) {
      for (auto& found : read.value) {
        if (found.row.id != change.id) continue;
        store::JobRow row = found.row;
        const jobs::Job job = remote_job(row, kind_named(row.kind));
        jobs::JobEvent event;
        event.state = change.state;
        event.at = jobs::from_unix_ms(change.at_ms);
        state_handler_(job, event);
        break;
      }
    }
  }
  states_reading_ = false;
}

}  // namespace jobd::cluster
