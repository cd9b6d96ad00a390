// The fused gradient allreduce of data parallel (GradReducer) for LeNet5's and ResNet50's parameter sets, beside
// one plain MPI_Allreduce of the same number of floats: run under mpirun (compare.py uses -np 2). Rank 0 prints
// JSON: per set, the median milliseconds of each over the repetitions, each timed between barriers.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "mindsave/core/parallel.hpp"
#include "mindsave/distributed/grad_reducer.hpp"
#include "mindsave/distributed/mpi.hpp"
#include "mindsave/mindsave.hpp"

namespace ms = mindsave;

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

ms::DataParallelOptions options;

template <class Net>
std::string measure(ms::mpi::Communicator& comm, Net& net, const char* name, int repetitions) {
    ms::GradReducer<ms::mpi::Communicator> reducer(comm, net, options);
    std::size_t floats = 0;
    ms::visit_parameters(net, [&](std::string_view, auto& p) {
        if constexpr (requires { p.grad; p.requires_grad; })
            if (p.requires_grad) floats += p.grad.size();
    });
    std::vector<float> plain(floats, 1.f);
    std::vector<double> fused_ms, plain_ms;
    for (int i = 0; i < repetitions + 2; ++i) {  // two warm-ups
        comm.barrier();
        auto t0 = std::chrono::steady_clock::now();
        reducer.reduce();
        const double fused = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        comm.barrier();
        t0 = std::chrono::steady_clock::now();
        MPI_Allreduce(MPI_IN_PLACE, plain.data(), static_cast<int>(plain.size()), MPI_FLOAT, MPI_SUM, comm.native());
        const double one = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (i >= 2) fused_ms.push_back(fused), plain_ms.push_back(one);
    }
    char out[256];
    std::snprintf(out, sizeof out,
                  "\"%s\": {\"tensors\": %zu, \"buckets\": %zu, \"floats\": %zu, \"fused_ms\": %.4f, \"plain_ms\": %.4f}",
                  name, reducer.gradient_tensors(), reducer.gradient_buckets(), floats, median(fused_ms), median(plain_ms));
    return out;
}

}  // namespace

// Optional arguments: bucket_bytes and in_place_bytes in KiB (DataParallelOptions' defaults otherwise).
int main(int argc, char** argv) {
    if (argc > 1) options.bucket_bytes = std::stoul(argv[1]) << 10;
    if (argc > 2) options.in_place_bytes = std::stoul(argv[2]) << 10;
    auto& comm = ms::mpi::init();
    ms::set_num_threads(1);
    ms::LeNet5<> lenet(1);
    auto resnet = std::make_unique<ms::ResNet50<>>(1);
    const std::string a = measure(comm, lenet, "lenet5", 201);
    const std::string b = measure(comm, *resnet, "resnet50", 21);
    if (comm.rank() == 0) std::printf("{\"ranks\": %d, %s, %s}\n", comm.size(), a.c_str(), b.c_str());
    return 0;
}
