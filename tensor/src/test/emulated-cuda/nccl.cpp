// nccl.cpp: an emulated NCCL (libnccl.so.2) for the emulated driver: the communicators of one
// process (ncclCommInitAll) and the collectives Kinema's NcclProcessGroup calls — all-reduce,
// broadcast, all-gather, reduce-scatter — with group calls. "Device" buffers are the driver's host
// allocations and everything asynchronous happens at once, so a collective is a rendezvous: each
// rank posts its call (from its own thread, or several ranks from one thread inside
// ncclGroupStart/End), the rank that completes the set computes every rank's result, and the calls
// return when their collective is done. A rank's call first runs the work the driver queued on its
// stream (KINEMA_EMU_DEFERRED=1), so the collective follows it in stream order. Reductions add in rank order (rank 0 + rank 1 + ...) in
// the element type's own arithmetic (16-bit floats through f32, rounded after every addition).
//
// What it checks, to catch host-code bugs before a GPU run:
//   - communicator handles are live, devices valid and distinct, types and ops known;
//   - every buffer lies inside one allocation of the communicator's device, for the whole count
//     (all-gather's receive and reduce-scatter's send buffers: nranks times the count);
//   - the stream was created on the communicator's device;
//   - all ranks of a collective made the same call: same kind, count, type, op and root (what real
//     NCCL would hang or corrupt on is reported here as ncclInvalidUsage on every rank);
//   - a rank waiting more than KINEMA_EMU_NCCL_TIMEOUT_S seconds (default 60) for the others gets
//     ncclInternalError instead of hanging the test.
// ncclCommAbort frees a communicator at once and abandons its rank's collectives: a rank waiting in
// one returns (ncclSuccess, its receive buffer unwritten), as real NCCL's kernel would exit after
// the call had long returned; later calls on the communicator fail as on a destroyed one.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

typedef int ncclResult_t;
enum {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
};
enum { kInt8, kUint8, kInt32, kUint32, kInt64, kUint64, kFloat16, kFloat32, kFloat64, kBfloat16 };
enum { kSum, kProd, kMax, kMin, kAvg };
enum Kind { ALL_REDUCE, BROADCAST, ALL_GATHER, REDUCE_SCATTER };

int emu_device_count();                          // driver.cpp
int emu_device_of(const void* p, size_t bytes);  // driver.cpp
int emu_stream_device(void* stream);             // driver.cpp
bool emu_flush_stream(void* stream);             // driver.cpp: runs a stream's queued work

namespace {
const char* kind_name(Kind k) {
  switch (k) {
    case ALL_REDUCE: return "ncclAllReduce";
    case BROADCAST: return "ncclBroadcast";
    case ALL_GATHER: return "ncclAllGather";
    default: return "ncclReduceScatter";
  }
}

size_t type_bytes(int t) {
  switch (t) {
    case kInt8: case kUint8: return 1;
    case kFloat16: case kBfloat16: return 2;
    case kInt32: case kUint32: case kFloat32: return 4;
    case kInt64: case kUint64: case kFloat64: return 8;
    default: return 0;
  }
}

std::mutex error_mu;
std::string last_error;

ncclResult_t fail(ncclResult_t r, const std::string& what) {
  std::fprintf(stderr, "[emulated NCCL] %s\n", what.c_str());
  std::lock_guard<std::mutex> g(error_mu);
  last_error = what;
  return r;
}

struct Call {
  Kind kind;
  const char* send;
  char* recv;
  size_t count;  // all-gather: send count; reduce-scatter: receive count
  int type, op, root;
};

// One collective of a clique: every rank's call, filled as the ranks post.
struct Slot {
  std::vector<Call> calls;
  std::vector<bool> posted;
  int arrived = 0, released = 0;
  bool done = false;
  ncclResult_t result = ncclSuccess;
};

// The communicators made together by one ncclCommInitAll.
struct Clique {
  int nranks;
  std::mutex mu;
  std::condition_variable cv;
  std::map<unsigned long long, Slot> slots;  // by sequence number
  int live;                                  // communicators not yet destroyed
  std::vector<bool> aborted;                 // by rank: ncclCommAbort was called
};

struct Comm {
  std::shared_ptr<Clique> clique;
  int rank, device;
  unsigned long long next = 0;  // this rank's next sequence number
};

std::mutex comms_mu;
std::map<Comm*, bool>& comms() {
  static std::map<Comm*, bool> c;
  return c;
}
bool live(Comm* c) {
  std::lock_guard<std::mutex> g(comms_mu);
  return comms().count(c) != 0;
}

// ---------------------------------------------------------------- arithmetic

float half_to_float(unsigned short h) {
  _Float16 v;
  std::memcpy(&v, &h, 2);
  return (float)v;
}
unsigned short float_to_half(float f) {
  _Float16 v = (_Float16)f;
  unsigned short h;
  std::memcpy(&h, &v, 2);
  return h;
}
float bf16_to_float(unsigned short h) {
  unsigned bits = (unsigned)h << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
unsigned short float_to_bf16(float f) {  // round to nearest even, NaN stays NaN
  unsigned bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((bits >> 16) | 0x40);
  return (unsigned short)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

template <typename T>
T combine(T a, T b, int op) {
  switch (op) {
    case kProd: return a * b;
    case kMax: return a > b ? a : b;
    case kMin: return a < b ? a : b;
    default: return a + b;  // SUM, AVG (divided at the end)
  }
}

// out[i] = in[0][i] (op) in[1][i] (op) ... in rank order, for n elements of type t.
template <typename T>
void reduce_as(std::vector<const char*>& in, char* out, size_t n, int op, int nranks) {
  for (size_t i = 0; i < n; i++) {
    T acc;
    std::memcpy(&acc, in[0] + i * sizeof(T), sizeof(T));
    for (size_t r = 1; r < in.size(); r++) {
      T v;
      std::memcpy(&v, in[r] + i * sizeof(T), sizeof(T));
      acc = combine(acc, v, op);
    }
    if (op == kAvg) acc = (T)(acc / (T)nranks);
    std::memcpy(out + i * sizeof(T), &acc, sizeof(T));
  }
}

template <float (*Load)(unsigned short), unsigned short (*Store)(float)>
void reduce_16(std::vector<const char*>& in, char* out, size_t n, int op, int nranks) {
  for (size_t i = 0; i < n; i++) {
    unsigned short h;
    std::memcpy(&h, in[0] + 2 * i, 2);
    float acc = Load(h);
    for (size_t r = 1; r < in.size(); r++) {
      std::memcpy(&h, in[r] + 2 * i, 2);
      acc = Load(Store(combine(acc, Load(h), op)));
    }
    if (op == kAvg) acc = acc / (float)nranks;
    h = Store(acc);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

void reduce(int type, std::vector<const char*>& in, char* out, size_t n, int op, int nranks) {
  switch (type) {
    case kInt8: reduce_as<signed char>(in, out, n, op, nranks); break;
    case kUint8: reduce_as<unsigned char>(in, out, n, op, nranks); break;
    case kInt32: reduce_as<int>(in, out, n, op, nranks); break;
    case kUint32: reduce_as<unsigned>(in, out, n, op, nranks); break;
    case kInt64: reduce_as<long long>(in, out, n, op, nranks); break;
    case kUint64: reduce_as<unsigned long long>(in, out, n, op, nranks); break;
    case kFloat16: reduce_16<half_to_float, float_to_half>(in, out, n, op, nranks); break;
    case kFloat32: reduce_as<float>(in, out, n, op, nranks); break;
    case kFloat64: reduce_as<double>(in, out, n, op, nranks); break;
    default: reduce_16<bf16_to_float, float_to_bf16>(in, out, n, op, nranks); break;
  }
}

// ---------------------------------------------------------------- execution

std::string describe(const Call& c) {
  std::string s = std::string(kind_name(c.kind)) + "(count " + std::to_string(c.count) +
                  ", type " + std::to_string(c.type);
  if (c.kind == ALL_REDUCE || c.kind == REDUCE_SCATTER) s += ", op " + std::to_string(c.op);
  if (c.kind == BROADCAST) s += ", root " + std::to_string(c.root);
  return s + ")";
}

// Runs a slot whose ranks have all posted: checks they agree, then writes every rank's result.
// The inputs are copied first, so in-place calls (send == recv) read the values before any write.
ncclResult_t execute(Slot& s, int nranks) {
  const Call& c0 = s.calls[0];
  for (int r = 1; r < nranks; r++) {
    const Call& c = s.calls[r];
    if (c.kind != c0.kind || c.count != c0.count || c.type != c0.type ||
        (c.kind != BROADCAST && c.kind != ALL_GATHER && c.op != c0.op) ||
        (c.kind == BROADCAST && c.root != c0.root)) {
      return fail(ncclInvalidUsage, "the ranks of a collective disagree: rank 0 called " +
                                        describe(c0) + ", rank " + std::to_string(r) + " " +
                                        describe(c));
    }
  }
  size_t eb = type_bytes(c0.type), n = c0.count;
  size_t in_elems = c0.kind == REDUCE_SCATTER ? n * nranks : n;
  std::vector<std::vector<char>> copies(nranks);
  std::vector<const char*> in(nranks);
  for (int r = 0; r < nranks; r++) {
    copies[r].assign(s.calls[r].send, s.calls[r].send + in_elems * eb);
    in[r] = copies[r].data();
  }
  switch (c0.kind) {
    case ALL_REDUCE: {
      std::vector<char> out(n * eb);
      reduce(c0.type, in, out.data(), n, c0.op, nranks);
      for (int r = 0; r < nranks; r++) std::memcpy(s.calls[r].recv, out.data(), n * eb);
      break;
    }
    case BROADCAST:
      for (int r = 0; r < nranks; r++) std::memcpy(s.calls[r].recv, in[c0.root], n * eb);
      break;
    case ALL_GATHER:
      for (int r = 0; r < nranks; r++) {
        for (int q = 0; q < nranks; q++) std::memcpy(s.calls[r].recv + q * n * eb, in[q], n * eb);
      }
      break;
    case REDUCE_SCATTER: {
      std::vector<char> out(n * nranks * eb);
      reduce(c0.type, in, out.data(), n * nranks, c0.op, nranks);
      for (int r = 0; r < nranks; r++) std::memcpy(s.calls[r].recv, out.data() + r * n * eb, n * eb);
      break;
    }
  }
  return ncclSuccess;
}

struct Ticket {
  std::shared_ptr<Clique> clique;
  unsigned long long seq;
  int rank;
};

Ticket post(Comm* comm, const Call& call) {
  Clique& q = *comm->clique;
  std::lock_guard<std::mutex> g(q.mu);
  unsigned long long seq = comm->next++;
  Slot& s = q.slots[seq];
  if (s.calls.empty()) {
    s.calls.resize(q.nranks);
    s.posted.assign(q.nranks, false);
  }
  s.calls[comm->rank] = call;
  s.posted[comm->rank] = true;
  if (++s.arrived == q.nranks) {
    s.result = execute(s, q.nranks);
    s.done = true;
    q.cv.notify_all();
  }
  return Ticket{comm->clique, seq, comm->rank};
}

int timeout_seconds() {
  const char* s = std::getenv("KINEMA_EMU_NCCL_TIMEOUT_S");
  return s != nullptr ? std::atoi(s) : 60;
}

ncclResult_t wait(const Ticket& t) {
  Clique& q = *t.clique;
  std::unique_lock<std::mutex> g(q.mu);
  Slot& s = q.slots[t.seq];
  auto ready = [&] { return s.done || q.aborted[t.rank]; };
  if (!q.cv.wait_for(g, std::chrono::seconds(timeout_seconds()), ready)) {
    std::string missing;
    for (int r = 0; r < q.nranks; r++) {
      if (!s.posted[r]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    }
    g.unlock();
    return fail(ncclInternalError,
                "collective " + std::to_string(t.seq) + " waited " +
                    std::to_string(timeout_seconds()) + " s for rank(s) " + missing +
                    ": every rank must make the same calls in the same order, from its own "
                    "thread or inside one ncclGroupStart/ncclGroupEnd");
  }
  if (!s.done) return ncclSuccess;  // abandoned by ncclCommAbort (the slot stays with the clique)
  ncclResult_t r = s.result;
  if (++s.released == q.nranks) q.slots.erase(t.seq);
  return r;
}

// Group state is per thread, as in NCCL.
thread_local int group_depth = 0;
thread_local std::vector<Ticket> group_tickets;
thread_local ncclResult_t group_error = ncclSuccess;

ncclResult_t check_buffer(Comm* c, const char* call, const char* what, const void* p,
                          size_t bytes) {
  int d = emu_device_of(p, bytes);
  if (d < 0) {
    char b[32];
    std::snprintf(b, sizeof b, "%p", p);
    return fail(ncclInvalidArgument, std::string(call) + ": " + what + " " + b + " (" +
                                         std::to_string(bytes) +
                                         " bytes) is not inside one device allocation");
  }
  if (d != c->device) {
    return fail(ncclInvalidArgument, std::string(call) + ": " + what + " is on device " +
                                         std::to_string(d) + ", the communicator of rank " +
                                         std::to_string(c->rank) + " on device " +
                                         std::to_string(c->device));
  }
  return ncclSuccess;
}

// Checks a call's arguments, posts it, and (outside a group) waits for its collective.
ncclResult_t collective(Comm* comm, const Call& call, void* stream) {
  const char* name = kind_name(call.kind);
  ncclResult_t r = ncclSuccess;
  if (comm == nullptr || !live(comm)) {
    r = fail(ncclInvalidArgument, std::string(name) + ": not a live communicator");
  } else if (type_bytes(call.type) == 0) {
    r = fail(ncclInvalidArgument, std::string(name) + ": unsupported data type " +
                                      std::to_string(call.type));
  } else if ((call.kind == ALL_REDUCE || call.kind == REDUCE_SCATTER) &&
             (call.op < kSum || call.op > kAvg)) {
    r = fail(ncclInvalidArgument, std::string(name) + ": unknown reduction " +
                                      std::to_string(call.op));
  } else if (call.kind == BROADCAST && (call.root < 0 || call.root >= comm->clique->nranks)) {
    r = fail(ncclInvalidArgument, std::string(name) + ": root " + std::to_string(call.root) +
                                      " is not a rank");
  } else if (emu_stream_device(stream) != comm->device) {
    r = fail(ncclInvalidArgument, std::string(name) + ": the stream is not one of device " +
                                      std::to_string(comm->device) + "'s");
  } else {
    size_t eb = type_bytes(call.type), nr = comm->clique->nranks;
    size_t send = call.count * eb * (call.kind == REDUCE_SCATTER ? nr : 1);
    size_t recv = call.count * eb * (call.kind == ALL_GATHER ? nr : 1);
    if (call.count > 0) r = check_buffer(comm, name, "send buffer", call.send, send);
    if (r == ncclSuccess && call.count > 0) r = check_buffer(comm, name, "receive buffer", call.recv, recv);
  }
  // The collective reads and writes its buffers at the rendezvous: the rank's earlier work on the
  // stream (queued by the driver's deferred mode) runs first, which keeps stream order.
  if (r == ncclSuccess && !emu_flush_stream(stream)) {
    r = fail(ncclUnhandledCudaError, std::string(name) + ": earlier work on the stream failed");
  }
  if (r != ncclSuccess) {
    if (group_depth > 0 && group_error == ncclSuccess) group_error = r;
    return r;
  }
  Ticket t = post(comm, call);
  if (group_depth > 0) {
    group_tickets.push_back(t);
    return ncclSuccess;
  }
  return wait(t);
}
}  // namespace

extern "C" {

ncclResult_t ncclGetVersion(int* version) {
  *version = 22703;  // 2.27.3: AVG and bfloat16 exist
  return ncclSuccess;
}

const char* ncclGetErrorString(ncclResult_t r) {
  switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
    case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    default: return "unknown result code";
  }
}

const char* ncclGetLastError(void*) {
  static thread_local std::string copy;
  std::lock_guard<std::mutex> g(error_mu);
  copy = last_error;
  return copy.c_str();
}

ncclResult_t ncclCommInitAll(void** handles, int ndev, const int* devlist) {
  if (handles == nullptr || ndev < 1) {
    return fail(ncclInvalidArgument, "ncclCommInitAll: ndev " + std::to_string(ndev));
  }
  std::vector<int> devices(ndev);
  for (int i = 0; i < ndev; i++) {
    int d = devlist != nullptr ? devlist[i] : i;
    if (d < 0 || d >= emu_device_count()) {
      return fail(ncclInvalidArgument, "ncclCommInitAll: no device " + std::to_string(d));
    }
    for (int j = 0; j < i; j++) {
      if (devices[j] == d) {
        return fail(ncclInvalidUsage, "ncclCommInitAll: duplicate device " + std::to_string(d));
      }
    }
    devices[i] = d;
  }
  auto clique = std::make_shared<Clique>();
  clique->nranks = ndev;
  clique->live = ndev;
  clique->aborted.assign(ndev, false);
  std::lock_guard<std::mutex> g(comms_mu);
  for (int i = 0; i < ndev; i++) {
    Comm* c = new Comm{clique, i, devices[i]};
    comms()[c] = true;
    handles[i] = c;
  }
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(void* handle) {
  Comm* comm = (Comm*)handle;
  std::lock_guard<std::mutex> g(comms_mu);
  if (comm == nullptr || comms().erase(comm) == 0) {
    return fail(ncclInvalidArgument, "ncclCommDestroy: not a live communicator");
  }
  delete comm;  // the clique goes with its last communicator (shared_ptr)
  return ncclSuccess;
}

// Not deleted: another thread may still be inside a call with it (the abort's purpose); the few
// bytes stay allocated.
ncclResult_t ncclCommAbort(void* handle) {
  Comm* comm = (Comm*)handle;
  {
    std::lock_guard<std::mutex> g(comms_mu);
    if (comm == nullptr || comms().erase(comm) == 0) {
      return fail(ncclInvalidArgument, "ncclCommAbort: not a live communicator");
    }
  }
  Clique& q = *comm->clique;
  std::lock_guard<std::mutex> g(q.mu);
  q.aborted[comm->rank] = true;
  q.cv.notify_all();
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, int type, int op, void* comm,
                           void* stream) {
  return collective((Comm*)comm, Call{ALL_REDUCE, (const char*)send, (char*)recv, count, type, op, 0},
                    stream);
}

ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, int type, int root,
                           void* comm, void* stream) {
  return collective((Comm*)comm, Call{BROADCAST, (const char*)send, (char*)recv, count, type, 0, root},
                    stream);
}

ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, int type, void* comm,
                           void* stream) {
  return collective((Comm*)comm, Call{ALL_GATHER, (const char*)send, (char*)recv, count, type, 0, 0},
                    stream);
}

ncclResult_t ncclReduceScatter(const void* send, void* recv, size_t count, int type, int op,
                               void* comm, void* stream) {
  return collective((Comm*)comm, Call{REDUCE_SCATTER, (const char*)send, (char*)recv, count, type, op, 0},
                    stream);
}

ncclResult_t ncclGroupStart() {
  group_depth++;
  return ncclSuccess;
}

// Waits for every collective the thread posted since the outermost ncclGroupStart.
ncclResult_t ncclGroupEnd() {
  if (group_depth == 0) return fail(ncclInvalidUsage, "ncclGroupEnd without ncclGroupStart");
  if (--group_depth > 0) return ncclSuccess;
  ncclResult_t r = group_error;
  for (const Ticket& t : group_tickets) {
    ncclResult_t w = wait(t);
    if (r == ncclSuccess) r = w;
  }
  group_tickets.clear();
  group_error = ncclSuccess;
  return r;
}

}  // extern "C"
