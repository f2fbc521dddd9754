//===- OpVerification.h - checks shared by the moe op verifiers -*- C++ -*-===//
//
// Private to dialects/MoE/IR: the shape checks and custom assembly pieces
// that the graph ops (MoEOps.cpp) and the kernel ops (MoEKernelOps.cpp)
// share. Every message names the operand at fault.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECTS_MOE_IR_OPVERIFICATION_H
#define MOE_DIALECTS_MOE_IR_OPVERIFICATION_H

#include "moe/Dialect/MoE/IR/MoEAttrs.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/Operation.h"

#include <optional>
#include <utility>

namespace mlir::moe::detail {
/// Checks operands' shapes against what an op expects. Each check names the
/// operand, the dimension's meaning and both sizes; dynamic sizes are
/// accepted wherever the op allows them.
class ShapeChecker {
public:
  explicit ShapeChecker(Operation *op) : op(op) {}

  /// Requires every dimension of `value`'s type to be static.
  LogicalResult isStatic(Value value, StringRef name) {
    auto type = cast<ShapedType>(value.getType());
    if (type.hasStaticShape())
      return success();
    return op->emitOpError()
           << "'" << name << "' must have a static shape, got " << type;
  }

  /// Requires dimension `dim` of `value` to be `expected` unless either is
  /// dynamic.
  LogicalResult dim(Value value, StringRef name, unsigned dim, int64_t expected,
                    StringRef meaning) {
    int64_t actual = cast<ShapedType>(value.getType()).getDimSize(dim);
    if (ShapedType::isDynamic(actual) || ShapedType::isDynamic(expected) ||
        actual == expected)
      return success();
    return op->emitOpError()
           << "'" << name << "' " << meaning << " (dimension " << dim << ") is "
           << actual << ", expected " << expected;
  }

  /// The FFN weights of `activation`: `gate` exactly when gated; `gate`/`up`
  /// `[(E,) F, H]`, `down` `[(E,) H, F]`, all static. `numExperts` is
  /// std::nullopt for a dense (unstacked) FFN.
  LogicalResult ffnWeights(Activation activation, Value gate, Value up,
                           Value down, StringRef prefix,
                           std::optional<int64_t> numExperts, int64_t hidden) {
    std::string gateName = (prefix + "gate").str();
    std::string upName = (prefix + "up").str();
    std::string downName = (prefix + "down").str();
    if (isGated(activation) && !gate)
      return op->emitOpError()
             << "activation '" << stringifyActivation(activation) << "' needs '"
             << gateName << "' weights";
    if (!isGated(activation) && gate)
      return op->emitOpError()
             << "activation '" << stringifyActivation(activation)
             << "' takes no '" << gateName << "' weights";
    unsigned lead = numExperts ? 1 : 0;
    if (failed(isStatic(up, upName)) || failed(isStatic(down, downName)))
      return failure();
    int64_t ffn = cast<ShapedType>(up.getType()).getDimSize(lead);
    if (numExperts &&
        (failed(dim(up, upName, 0, *numExperts, "expert count")) ||
         failed(dim(down, downName, 0, *numExperts, "expert count"))))
      return failure();
    if (failed(dim(up, upName, lead + 1, hidden, "hidden size")) ||
        failed(dim(down, downName, lead, hidden, "hidden size")) ||
        failed(dim(down, downName, lead + 1, ffn, "FFN width")))
      return failure();
    if (gate && cast<ShapedType>(gate.getType()).getShape() !=
                    cast<ShapedType>(up.getType()).getShape())
      return op->emitOpError()
             << "'" << gateName << "' shape " << gate.getType()
             << " differs from '" << upName << "' shape " << up.getType();
    return success();
  }

  /// The optional biases of an FFN's linears, `[(E,) F]` for `gate` and
  /// `up` and `[(E,) H]` for `down` (transformers' `nn.Linear` biases,
  /// GPT-OSS): each static, f32 and belonging to a weight the FFN has, so a
  /// gate bias only when gated. `ffn` is the FFN's width.
  LogicalResult ffnBiases(Activation activation, Value gateBias, Value upBias,
                          Value downBias, StringRef prefix,
                          std::optional<int64_t> numExperts, int64_t ffn,
                          int64_t hidden) {
    if (gateBias && !isGated(activation))
      return op->emitOpError()
             << "activation '" << stringifyActivation(activation)
             << "' takes no '" << prefix << "gate_bias': it has no gate";
    struct Bias {
      Value value;
      StringRef name;
      int64_t width;
      StringRef meaning;
    } biases[] = {{gateBias, "gate_bias", ffn, "FFN width"},
                  {upBias, "up_bias", ffn, "FFN width"},
                  {downBias, "down_bias", hidden, "hidden size"}};
    unsigned rank = numExperts ? 2 : 1;
    for (const Bias &bias : biases) {
      if (!bias.value)
        continue;
      std::string name = (prefix + bias.name).str();
      auto type = cast<ShapedType>(bias.value.getType());
      if (type.getRank() != rank || !type.getElementType().isF32())
        return op->emitOpError()
               << "'" << name << "' must be a rank-" << rank
               << " tensor of f32 (" << (numExperts ? "[E, " : "[")
               << bias.meaning << "]), got " << type;
      if (failed(isStatic(bias.value, name)) ||
          (numExperts &&
           failed(dim(bias.value, name, 0, *numExperts, "expert count"))) ||
          failed(dim(bias.value, name, rank - 1, bias.width, bias.meaning)))
        return failure();
    }
    return success();
  }

  /// `clamp` (the `glu_clamp` attribute) exactly for `clamped_swiglu`.
  LogicalResult gluClamp(Activation activation, GluClampAttr clamp) {
    bool wanted = activation == Activation::clamped_swiglu;
    if (wanted && !clamp)
      return op->emitOpError()
             << "activation 'clamped_swiglu' needs a 'glu_clamp' attribute "
                "(#moe.glu_clamp<alpha = ..., limit = ...>)";
    if (!wanted && clamp)
      return op->emitOpError()
             << "'glu_clamp' applies to activation 'clamped_swiglu' only, got '"
             << stringifyActivation(activation) << "'";
    return success();
  }

  /// An expert-major row bundle: rows `[R,H]`, per-row tokens and weights
  /// `[R]`, offsets `[E+1]` static with E >= 1.
  LogicalResult rowBundle(Value rows, StringRef rowsName, Value rowToken,
                          Value rowWeight, Value offsets, int64_t hidden) {
    int64_t numRows = cast<ShapedType>(rows.getType()).getDimSize(0);
    if (failed(dim(rows, rowsName, 1, hidden, "hidden size")) ||
        failed(dim(rowToken, "row_token", 0, numRows, "row count")))
      return failure();
    if (rowWeight &&
        failed(dim(rowWeight, "row_weight", 0, numRows, "row count")))
      return failure();
    return expertOffsets(offsets);
  }

  LogicalResult expertOffsets(Value offsets) {
    if (failed(isStatic(offsets, "expert_offsets")))
      return failure();
    if (cast<ShapedType>(offsets.getType()).getDimSize(0) < 2)
      return op->emitOpError()
             << "'expert_offsets' must hold E+1 >= 2 entries, got "
             << offsets.getType();
    return success();
  }

  /// Requires a result type equal to an operand's.
  LogicalResult sameType(Value result, Value operand, StringRef name) {
    if (result.getType() == operand.getType())
      return success();
    return op->emitOpError()
           << "result type " << result.getType() << " must match '" << name
           << "' type " << operand.getType();
  }

private:
  Operation *op;
};

inline int64_t dimOf(Value value, unsigned dim) {
  return cast<ShapedType>(value.getType()).getDimSize(dim);
}

//===----------------------------------------------------------------------===//
// Custom assembly: `(gate %g,)? up %u`
//===----------------------------------------------------------------------===//

/// Parses `(gate %g,)? up %u` (moe.gather_gate_up, and the start of
/// FfnWeights). `up` is a required or an optional operand, hence the
/// template.
template <typename UpT>
inline ParseResult
parseGateUpWeights(OpAsmParser &parser,
                   std::optional<OpAsmParser::UnresolvedOperand> &gate,
                   UpT &up) {
  if (succeeded(parser.parseOptionalKeyword("gate"))) {
    OpAsmParser::UnresolvedOperand gateOperand;
    if (parser.parseOperand(gateOperand) || parser.parseComma())
      return failure();
    gate = gateOperand;
  }
  OpAsmParser::UnresolvedOperand upOperand;
  if (parser.parseKeyword("up") || parser.parseOperand(upOperand))
    return failure();
  up = upOperand;
  return success();
}

inline void printGateUpWeights(OpAsmPrinter &printer, Operation *, Value gate,
                               Value up) {
  if (gate)
    printer << "gate " << gate << ", ";
  printer << "up " << up;
}

//===----------------------------------------------------------------------===//
// Custom assembly: `(, keyword %v)*`, each keyword at most once, in order
//===----------------------------------------------------------------------===//

/// Parses `(, keyword %v)*` where each keyword is one of `keywords`, at most
/// once and in that order, into the matching slot (moe.layer's router and
/// the optional biases of the FFN weights). A `list` is `keyword %v (,
/// keyword %v)*` instead: at least one, no comma before the first
/// (moe.layer's norms).
inline ParseResult parseKeywordOperands(
    OpAsmParser &parser, ArrayRef<StringLiteral> keywords,
    ArrayRef<std::optional<OpAsmParser::UnresolvedOperand> *> slots,
    bool list = false) {
  size_t next = 0;
  bool first = list;
  while (std::exchange(first, false) ||
         succeeded(parser.parseOptionalComma())) {
    llvm::SMLoc loc = parser.getCurrentLocation();
    StringRef keyword;
    if (parser.parseKeyword(&keyword))
      return failure();
    const auto *found = llvm::find(keywords, keyword);
    size_t index = found - keywords.begin();
    if (found == keywords.end() || index < next) {
      InFlightDiagnostic diag = parser.emitError(loc) << "expected one of ";
      llvm::interleaveComma(keywords, diag, [&](StringRef expected) {
        diag << "'" << expected << "'";
      });
      return diag << " (each at most once, in this order), got '" << keyword
                  << "'";
    }
    OpAsmParser::UnresolvedOperand operand;
    if (parser.parseOperand(operand))
      return failure();
    *slots[index] = operand;
    next = index + 1;
  }
  return success();
}

/// Prints what parseKeywordOperands parses.
inline void printKeywordOperands(OpAsmPrinter &printer,
                                 ArrayRef<StringLiteral> keywords,
                                 ArrayRef<Value> values, bool list = false) {
  bool first = list;
  for (auto [keyword, value] : llvm::zip_equal(keywords, values)) {
    if (!value)
      continue;
    printer << (std::exchange(first, false) ? "" : ", ") << keyword << " "
            << value;
  }
}

/// The keywords of the optional FFN biases after the weights:
/// `gate %g, up %u, down %d, gate_bias %bg, up_bias %bu, down_bias %bd`.
constexpr StringLiteral kFfnBiasKeywords[] = {"gate_bias", "up_bias",
                                              "down_bias"};

} // namespace mlir::moe::detail

#endif // MOE_DIALECTS_MOE_IR_OPVERIFICATION_H
