package io.kinema.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

class CFunctionTest {
  @Test
  void parsesHeaderStylePrototypes() {
    CFunction f =
        CFunction.parse(
            "CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N,"
                + " CUstream hStream);");
    assertEquals("cuMemsetD8Async", f.name());
    assertEquals("CUresult", f.returnType());
    assertEquals(List.of("CUdeviceptr", "unsigned char", "size_t", "CUstream"), f.parameterTypes());

    CFunction g = CFunction.parse("const char * cudnnGetErrorString(cudnnStatus_t status)");
    assertEquals("char *", g.returnType());
    CFunction h =
        CFunction.parse(
            "cudnnStatus_t f(const cudnnTensorDescriptor_t xDesc, const int dimA[], const char"
                + " **pStr, unsigned int, long long int strideA, int* returnAlgoCount)");
    assertEquals(
        List.of(
            "cudnnTensorDescriptor_t",
            "int *",
            "char **",
            "unsigned int",
            "long long int",
            "int *"),
        h.parameterTypes());
    assertEquals(List.of(), CFunction.parse("size_t cudnnGetVersion(void)").parameterTypes());
    assertEquals(List.of(), CFunction.parse("ncclResult_t ncclGroupStart()").parameterTypes());
    assertEquals(
        "ncclResult_t ncclGroupStart()",
        CFunction.parse("ncclResult_t ncclGroupStart()").toString());
  }

  @Test
  void rejectsWhatIsNotAPrototype() {
    for (String bad :
        new String[] {"int x", "f(int a)", "int f(int a", "int f(int a) {", "int f(,)"}) {
      var e = assertThrows(IllegalArgumentException.class, () -> CFunction.parse(bad), bad);
      assertTrue(e.getMessage().contains(bad), e.getMessage());
    }
  }

  @Test
  void typesMapToLayouts() {
    CTypes c = CTypes.standard().ints("CUresult").longs("CUdeviceptr").pointers("CUstream");
    FunctionDescriptor d =
        c.descriptor(
            CFunction.parse(
                "CUresult f(CUdeviceptr p, unsigned char b, size_t n, CUstream s, int64_t x,"
                    + " void **q)"));
    assertEquals(
        FunctionDescriptor.of(
            JAVA_INT, JAVA_LONG, JAVA_BYTE, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS),
        d);
    assertEquals(
        FunctionDescriptor.ofVoid(ADDRESS), c.descriptor(CFunction.parse("void f(char *m)")));
    MemoryLayout id = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(128, JAVA_BYTE));
    assertEquals(id, CTypes.standard().struct("ncclUniqueId", id).layout("ncclUniqueId"));

    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> c.descriptor(CFunction.parse("CUresult g(CUdevice dev)")));
    assertEquals("g: unknown C type 'CUdevice' in CUresult g(CUdevice)", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> c.ints("CUresult"));
  }
}
