#pragma once
// Fit badges from the VRAM planner (engine/planner) for catalog and search rows, before any
// weight is downloaded: reads the repo's config.json (and hlwq_config.json / polar_config.json
// when present) through the HF cache, a few KB, and asks planner::check_fit. Built only when
// hlwq_planner is (HLWQ_HUB_HAVE_PLANNER).
#include "hub/catalog.h"
#include "hub/downloader.h"
#include "planner/fit.h"

namespace hlwq::hub {

// The returned checker keeps references to `downloader`; it never throws: a repo without a
// usable config gets FitVerdict::Unknown with the reason in FitResult::detail.
FitChecker make_planner_fit_checker(Downloader& downloader, planner::GpuSpec gpu, planner::PlanOptions options);

// Fits -> Fits, FitsReducedContext -> Tight, DoesNotFit -> DoesNotFit.
FitVerdict to_fit_verdict(planner::Verdict verdict);

}  // namespace hlwq::hub
