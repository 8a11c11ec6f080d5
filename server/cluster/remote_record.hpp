// A job as Redis holds it, rendered as the same record JSON as a job of the local table
// (jobs/record.hpp), so that any replica answers for any job with the same bytes.
#pragma once

#include <string>

#include "jobs/record.hpp"
#include "kinds/kind.hpp"
#include "store/redis_jobs_types.hpp"

namespace jobd::cluster {

// The fields a record reads, as JobTable::restore fills them (no events, no control). `row` is
// moved from.
jobs::Job remote_job(store::JobRow& row, const kinds::Kind& kind);
// `row` is moved from. `kind` is the registered kind of that name (or a stand-in).
void append_remote_record(std::string& out, store::JobRow& row, const kinds::Kind& kind,
                          const jobs::RecordView& view = {});
std::string render_remote_record(store::JobRow& row, const kinds::Kind& kind,
                                 const jobs::RecordView& view = {});

}  // namespace jobd::cluster
