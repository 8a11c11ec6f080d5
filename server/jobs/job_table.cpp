#include "jobs/job_table.hpp"

#include <openssl/rand.h>

#include <stdexcept>

#include "kinds/kind.hpp"

namespace jobd::jobs {

std::string make_job_id() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int i = 0; i < 16; ++i) {
    id[2 * i] = kDigits[bytes[i] >> 4];
    id[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return id;
}

JobTable::JobTable(RetentionLimits limits) : limits_(limits) {}

Job& JobTable::create(const kinds::Kind& kind, proto::Executor executor, nlohmann::json params,
                      std::chrono::milliseconds timeout, std::optional<std::string> idempotency_key,
                      Clock::time_point now) {
  auto job = std::make_unique<Job>();
  job->seq = next_seq_++;
  job->id = make_job_id();
  job->kind = &kind;
  job->executor = executor;
  job->params = std::move(params);
  job->timeout = timeout;
  job->created_at = now;
  job->idempotency_key = std::move(idempotency_key);
  job->control = std::make_shared<exec::JobControl>();
  Job& ref = *job;
  by_id_.emplace(ref.id, ref.seq);
  if (ref.idempotency_key) by_idempotency_key_.emplace(*ref.idempotency_key, ref.seq);
  jobs_.emplace(ref.seq, std::move(job));
  publish(ref, JobEvent{.type = EventType::state, .state = proto::JobState::queued, .at = now});
  return ref;
}

void JobTable::discard(JobSeq seq) { evict(seq); }

Job* JobTable::get(std::string_view id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : get(it->second);
}

Job* JobTable::get(JobSeq seq) {
  auto it = jobs_.find(seq);
  return it == jobs_.end() ? nullptr : it->second.get();
}

Job* JobTable::find_by_idempotency_key(std::string_view key) {
  auto it = by_idempotency_key_.find(key);
  return it == by_idempotency_key_.end() ? nullptr : get(it->second);
}

void JobTable::mark_running(Job& job, Clock::time_point now) {
  if (job.state != proto::JobState::queued) return;
  job.state = proto::JobState::running;
  if (!job.started_at) job.started_at = job.visible_started_at().value_or(now);
  publish(job, JobEvent{.type = EventType::state, .state = job.state, .at = *job.started_at});
}

void JobTable::report_progress(Job& job, double fraction, std::string text) {
  if (proto::is_final(job.state)) return;
  job.progress = fraction;
  if (job.event_subscribers == 0) return;
  publish(
      job,
      JobEvent{
          .type = EventType::progress, .at = Clock::now(), .fraction = fraction, .text = std::move(text)});
}

void JobTable::report_output(Job& job, EventType stream, std::string line) {
  if (proto::is_final(job.state)) return;
  publish(job, JobEvent{.type = stream, .at = Clock::now(), .text = std::move(line)});
}

bool JobTable::finish(Job& job, proto::JobState state, nlohmann::json result, std::optional<JobError> error,
                      Clock::time_point now) {
  if (proto::is_final(job.state) || !proto::is_final(state)) return false;
  if (!job.started_at) job.started_at = job.visible_started_at();
  job.state = state;
  job.result = std::move(result);
  job.error = std::move(error);
  job.finished_at = now;
  finished_order_.push_back(job.seq);
  const JobSeq seq = job.seq;
  publish(job, JobEvent{.type = EventType::state, .state = state, .at = now});
  observers_.erase(seq);  // a final job changes no more
  while (finished_order_.size() > limits_.max_finished) {
    const JobSeq oldest = finished_order_.front();
    finished_order_.pop_front();
    evict(oldest);
  }
  return true;
}

ListPage JobTable::list(const ListFilter& filter) const {
  ListPage page;
  auto it = filter.before ? jobs_.lower_bound(*filter.before) : jobs_.end();
  while (it != jobs_.begin()) {
    --it;
    const Job& job = *it->second;
    if (filter.state && job.visible_state() != *filter.state) continue;
    if (filter.kind && job.kind->name != *filter.kind) continue;
    if (page.jobs.size() == filter.limit) {
      page.next_cursor = page.jobs.back()->seq;
      break;
    }
    page.jobs.push_back(&job);
  }
  return page;
}

WatchId JobTable::watch(JobSeq seq, Observer observer) {
  const WatchId id = next_watch_++;
  observers_[seq].emplace_back(id, std::move(observer));
  return id;
}

void JobTable::unwatch(JobSeq seq, WatchId id) {
  auto it = observers_.find(seq);
  if (it == observers_.end()) return;
  std::erase_if(it->second, [id](const auto& entry) { return entry.first == id; });
  if (it->second.empty()) observers_.erase(it);
}

WatchId JobTable::watch_all(Observer observer) {
  const WatchId id = next_watch_++;
  global_observers_.emplace_back(id, std::move(observer));
  return id;
}

void JobTable::unwatch_all(WatchId id) {
  std::erase_if(global_observers_, [id](const auto& entry) { return entry.first == id; });
}

void JobTable::publish(Job& job, JobEvent event) {
  event.id = job.next_event_id++;
  job.events.push_back(std::move(event));
  if (job.events.size() > limits_.event_history) job.events.pop_front();
  const JobEvent& published = job.events.back();
  if (auto it = observers_.find(job.seq); it != observers_.end()) {
    // Observers may unwatch (or watch) while being called: iterate over a copy.
    const auto observers = it->second;
    for (const auto& [id, observer] : observers) observer(job, published);
  }
  if (published.type == EventType::state && !global_observers_.empty()) {
    const auto observers = global_observers_;
    for (const auto& [id, observer] : observers) observer(job, published);
  }
}

std::size_t JobTable::evict_expired(Clock::time_point now) {
  std::size_t evicted = 0;
  while (!finished_order_.empty()) {
    const Job* oldest = get(finished_order_.front());
    if (oldest && *oldest->finished_at + limits_.retention > now) break;
    finished_order_.pop_front();
    evict(oldest ? oldest->seq : 0);
    ++evicted;
  }
  return evicted;
}

void JobTable::evict(JobSeq seq) {
  auto it = jobs_.find(seq);
  if (it == jobs_.end()) return;
  const Job& job = *it->second;
  by_id_.erase(job.id);
  if (job.idempotency_key) by_idempotency_key_.erase(*job.idempotency_key);
  observers_.erase(seq);
  jobs_.erase(it);
}

JobCounts JobTable::counts() const {
  return {jobs_.size(), jobs_.size() - finished_order_.size(), finished_order_.size()};
}

}  // namespace jobd::jobs
