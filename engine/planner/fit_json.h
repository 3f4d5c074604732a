#pragma once
// The fit report as JSON: `hlwq fit --json`, and whatever else wants it as data (the app's
// Fit page, scripts). Byte counts are exact integers; docs/FIT.md shows an example.
#include <nlohmann/json.hpp>

#include "planner/fit.h"

namespace hlwq::planner {

nlohmann::json plan_json(const Plan& plan);
nlohmann::json fit_report_json(const FitReport& report);

}  // namespace hlwq::planner
