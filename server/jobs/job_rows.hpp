// Jobs as the store keeps them: a Job (plus the final state it is about to take) to a
// store::RowRef (or JobRow), and the times of a row back to the table's clock. Pure functions,
// loop thread; built only when the store is durable (JobTable::durable), so the memory store
// costs nothing.
// A row carries the texts the job already keeps (params, result, executor fields): no JSON is
// rendered or parsed here.
#pragma once

#include <cstdint>

#include "jobs/job.hpp"
#include "store/job_row.hpp"

namespace jobd::jobs {

struct FinalState;

// The whole row of a new job, as views of the job's (and `final`'s) own values: what the table
// writes to the store, which copies them before write() returns.
store::RowRef insert_ref(const Job& job, const FinalState* final = nullptr);
// The mutable columns of a job (an update): its state now, or the final state it is taking.
store::RowRef update_ref(const Job& job, const FinalState* final = nullptr);
// The same as values.
inline store::JobRow insert_row(const Job& job, const FinalState* final = nullptr) {
  return store::row_of(insert_ref(job, final));
}
inline store::JobRow update_row(const Job& job, const FinalState* final = nullptr) {
  return store::row_of(update_ref(job, final));
}

std::int64_t to_unix_ms(Clock::time_point time);
Clock::time_point from_unix_ms(std::int64_t ms);

}  // namespace jobd::jobs
