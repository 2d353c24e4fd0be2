// Emulated kinema_random_32/64 against the CPU's stream: reads cases.txt (from RandomCases.java)
// and writes NAME.actual next to each NAME.expected.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "random.cu"

int main(int argc, char** argv) {
  std::string dir = argv[1];
  std::ifstream cases(dir + "/cases.txt");
  std::string line;
  int count = 0;
  while (std::getline(cases, line)) {
    std::istringstream in(line);
    std::string name;
    int kind, dtype;
    unsigned long long seed, offset;
    double a, b;
    long long n;
    in >> name >> kind >> dtype >> seed >> offset >> a >> b >> n;
    bool wide = dtype == KINEMA_F64 || dtype == KINEMA_I64;
    int elem = wide ? 8 : (dtype == KINEMA_F32 || dtype == KINEMA_I32) ? 4
               : (dtype == KINEMA_U8 || dtype == KINEMA_BOOL) ? 1 : 2;
    std::vector<unsigned char> out(n * elem + 64, 0xEE);
    long long blocks = wide ? (n + 1) / 2 : (n + 3) / 4;
    dim3 grid{(unsigned)((blocks + 255) / 256)}, block{256};
    launch(grid, block, 0, [&] {
      if (wide) kinema_random_64(kind, seed, offset, a, b, out.data(), dtype, n);
      else kinema_random_32(kind, seed, offset, a, b, out.data(), dtype, n);
    });
    for (long long i = n * elem; i < n * elem + 64; i++) {
      if (out[i] != 0xEE) { std::printf("%s wrote past the end\n", name.c_str()); return 1; }
    }
    std::ofstream(dir + "/" + name + ".actual", std::ios::binary).write((char*)out.data(), n * elem);
    count++;
  }
  std::printf("ran %d random cases\n", count);
  return 0;
}
