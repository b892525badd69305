// error.h: the exception that carries a mola_status and message from deep inside
// the library to the C ABI boundary, where it becomes a status and mola_last_error().
#pragma once

#include <stdexcept>
#include <string>

#include "mola/mola.h"

namespace mola {

class Error : public std::runtime_error {
public:
    Error(mola_status status, const std::string& message)
        : std::runtime_error(message), status_(status) {}
    mola_status status() const { return status_; }

private:
    mola_status status_;
};

[[noreturn]] inline void fail(mola_status status, const std::string& message) {
    throw Error(status, message);
}

}  // namespace mola
