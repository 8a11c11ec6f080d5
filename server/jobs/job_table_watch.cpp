// JobTable's observers: per job (watch) and of every job's state (watch_all).
#include "jobs/job_table.hpp"

#include <algorithm>

namespace jobd::jobs {

WatchId JobTable::watch(JobSeq seq, Observer observer, Watch what) {
  const WatchId id = next_watch_++;
  observers_[seq].push_back(Watcher{id, what, std::move(observer)});
  if (what == Watch::events) {
    if (Job* job = find(seq)) {
      ++job->event_subscribers;
      if (job->control) job->control->watched.store(true, std::memory_order_relaxed);
    }
  }
  return id;
}

void JobTable::unwatch(JobSeq seq, WatchId id) {
  auto it = observers_.find(seq);
  if (it == observers_.end()) return;
  auto& watchers = it->second;
  auto entry = std::find_if(watchers.begin(), watchers.end(), [id](const Watcher& w) { return w.id == id; });
  if (entry == watchers.end()) return;
  if (entry->what == Watch::events) {
    if (Job* job = find(seq);
        job && job->event_subscribers > 0 && --job->event_subscribers == 0 && job->control) {
      job->control->watched.store(false, std::memory_order_relaxed);
    }
  }
  watchers.erase(entry);
  if (watchers.empty()) observers_.erase(it);
}

WatchId JobTable::watch_all(Observer observer, WatchAll what) {
  const WatchId id = next_watch_++;
  // While the observers are being called, one joins after the call (the vector must not move).
  (notifying_ > 0 ? added_observers_ : global_observers_)
      .push_back(GlobalWatcher{id, what, std::move(observer)});
  if (what == WatchAll::stream) live_streams_.fetch_add(1, std::memory_order_relaxed);
  return id;
}

void JobTable::unwatch_all(WatchId id) {
  const auto is_it = [id](const GlobalWatcher& w) { return w.id == id && !w.removed; };
  auto entry = std::find_if(global_observers_.begin(), global_observers_.end(), is_it);
  auto& list = entry == global_observers_.end() ? added_observers_ : global_observers_;
  if (&list == &added_observers_) entry = std::find_if(list.begin(), list.end(), is_it);
  if (entry == list.end()) return;
  if (entry->what == WatchAll::stream) live_streams_.fetch_sub(1, std::memory_order_relaxed);
  // While the observers are being called, it is only marked (the vector must not move).
  if (notifying_ > 0 && &list == &global_observers_) {
    entry->removed = true;
    observers_removed_ = true;
  } else {
    list.erase(entry);
  }
}

void JobTable::notify_all(Job& job, const JobEvent& event) {
  notify_global(job, event, committed(job) ? Audience::everyone : Audience::recorders);
}

// A job's insert is committed: the live streams now learn its state events so far, in order (the
// final, when it settled in the same commit, follows on its own: it is applied after this).
void JobTable::announce(Job& job) {
  if (live_streams_.load(std::memory_order_relaxed) == 0) return;
  for (const JobEvent& event : job.history()) {
    if (event.type == EventType::state) notify_global(job, event, Audience::streams);
  }
}

void JobTable::notify_global(Job& job, const JobEvent& event, Audience audience) {
  // By index, without a copy of the vector per event (3 allocations per job): observers may
  // watch or unwatch while called, which is deferred until the outermost call ends.
  struct Depth {
    JobTable& table;
    ~Depth() {
      if (--table.notifying_ > 0) return;
      if (table.observers_removed_)
        std::erase_if(table.global_observers_, [](const auto& w) { return w.removed; });
      table.observers_removed_ = false;
      for (auto& added : table.added_observers_) table.global_observers_.push_back(std::move(added));
      table.added_observers_.clear();
    }
  } depth{*this};
  ++notifying_;
  for (std::size_t i = 0, n = global_observers_.size(); i < n; ++i) {
    const GlobalWatcher& watcher = global_observers_[i];
    if (watcher.removed) continue;
    const bool stream = watcher.what == WatchAll::stream;
    if (audience == Audience::everyone || stream == (audience == Audience::streams))
      watcher.observer(job, event);
  }
}

}  // namespace jobd::jobs
