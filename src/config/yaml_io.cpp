#include "config/yaml_io.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <sstream>

#include "core/error.h"

namespace vitrine::config {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool parse_int(const std::string& text, int64_t& out) {
  static const std::regex dec("[-+]?(0|[1-9][0-9_]*)");
  static const std::regex hex("[-+]?0x[0-9a-fA-F_]+");
  std::string digits = text;
  digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
  try {
    if (std::regex_match(text, dec)) {
      size_t used = 0;
      out = std::stoll(digits, &used, 10);
      return used == digits.size();
    }
    if (std::regex_match(text, hex)) {
      size_t used = 0;
      out = std::stoll(digits, &used, 16);
      return used == digits.size();
    }
  } catch (const std::out_of_range&) {
    return false;
  }
  return false;
}

bool parse_float(const std::string& text, double& out) {
  // YAML 1.1 floats plus the exponent-without-dot form (`1e-3`) that OmegaConf accepts.
  static const std::regex number(
      "[-+]?(([0-9][0-9_]*)?\\.[0-9_]*([eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+)");
  std::string l = lower(text);
  if (l == ".inf" || l == "inf" || l == "+inf" || l == "+.inf") {
    out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (l == "-.inf" || l == "-inf") {
    out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (l == ".nan" || l == "nan") {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (text == "." || !std::regex_match(text, number)) return false;
  std::string digits = text;
  digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
  try {
    out = std::stod(digits);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

Node from_yaml(const YAML::Node& y, const std::string& source) {
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null: return Node();
    case YAML::NodeType::Scalar:
      // Quoted scalars carry the "!" tag and stay strings; plain ones are classified.
      if (y.Tag() == "!") return Node(y.Scalar());
      return parse_plain_scalar(y.Scalar());
    case YAML::NodeType::Sequence: {
      List list;
      for (const auto& item : y) list.push_back(from_yaml(item, source));
      return Node(std::move(list));
    }
    case YAML::NodeType::Map: {
      Node dict = Node::dict();
      for (const auto& kv : y) {
        if (!kv.first.IsScalar())
          throw ConfigError(source + ": only scalar keys are supported (line " +
                            std::to_string(kv.first.Mark().line + 1) + ")");
        const std::string key = kv.first.Scalar();
        if (dict.find(key))
          throw ConfigError(source + ": duplicate key '" + key + "' (line " +
                            std::to_string(kv.first.Mark().line + 1) + ")");
        dict.set(key, from_yaml(kv.second, source));
      }
      return dict;
    }
  }
  return Node();
}

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  if (!parse_plain_scalar(s).is_string()) return true;
  // Characters that would change meaning in a plain YAML scalar.
  static const std::string leading = "-?:,[]{}#&*!|>'\"%@`~ ";
  if (leading.find(s.front()) != std::string::npos || s.back() == ' ') return true;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return true;
  if (s.find('\n') != std::string::npos || s.find('\t') != std::string::npos) return true;
  if (s.back() == ':') return true;
  return false;
}

void emit(YAML::Emitter& out, const Node& node) {
  switch (node.kind()) {
    case Kind::Null: out << YAML::Null; break;
    case Kind::Bool: out << (node.as_bool() ? "true" : "false"); break;
    case Kind::Int: out << std::to_string(node.as_int()); break;
    case Kind::Float: out << format_float(node.as_float()); break;
    case Kind::String:
      if (needs_quotes(node.as_string()))
        out << YAML::SingleQuoted << node.as_string();
      else
        out << node.as_string();
      break;
    case Kind::List:
      // Short scalar lists read best inline, as OmegaConf prints them in flow style.
      if (node.as_list().empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      {
        bool all_scalars = std::all_of(node.as_list().begin(), node.as_list().end(),
                                       [](const Node& n) { return n.is_scalar(); });
        if (all_scalars) out << YAML::Flow;
        out << YAML::BeginSeq;
        for (const auto& item : node.as_list()) emit(out, item);
        out << YAML::EndSeq;
      }
      break;
    case Kind::Dict:
      if (node.as_dict().empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        break;
      }
      out << YAML::BeginMap;
      for (const auto& [k, v] : node.as_dict()) {
        out << YAML::Key;
        if (needs_quotes(k)) out << YAML::SingleQuoted;
        out << k << YAML::Value;
        emit(out, v);
      }
      out << YAML::EndMap;
      break;
  }
}

}  // namespace

Node parse_plain_scalar(const std::string& text) {
  const std::string l = lower(text);
  if (l == "null" || text == "~" || text.empty()) return Node();
  if (l == "true") return Node(true);
  if (l == "false") return Node(false);
  int64_t i = 0;
  if (parse_int(text, i)) return Node(i);
  double f = 0;
  if (parse_float(text, f)) return Node(f);
  return Node(text);
}

Node load_yaml(const std::string& text, const std::string& source) {
  YAML::Node y;
  try {
    y = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ": invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " +
                      e.msg);
  }
  return from_yaml(y, source);
}

std::optional<std::string> package_directive(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  static const std::regex directive("^#\\s*@package\\s*:?\\s*(\\S+)\\s*$");
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] != '#') break;  // the header is the leading comment block
    std::smatch m;
    if (std::regex_match(line, m, directive)) return m[1].str();
  }
  return std::nullopt;
}

std::string dump_yaml(const Node& node) {
  if (node.is_dict() && node.as_dict().empty()) return "{}\n";
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, node);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

}  // namespace vitrine::config
