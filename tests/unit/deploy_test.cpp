// deploy/: every manifest parses, and the fields the agent relies on are there
// and agree with each other (the paths the agent is told about are the paths
// that are mounted; the embedded agent config and the key Secret pass the
// agent's own parsers; the probes reach the status endpoint the config opens).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "datapath/config.h"
#include "keys/keys.h"

namespace sealnet {
namespace {

namespace fs = std::filesystem;
const fs::path kDeploy = fs::path(SEALNET_SOURCE_DIR) / "deploy";

std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Manifests : ::testing::Test {
  void SetUp() override {
    for (const auto& e : fs::recursive_directory_iterator(kDeploy / "kubernetes")) {
      const auto ext = e.path().extension();
      if (ext != ".yaml" && ext != ".yml") continue;
      ++files;
      std::vector<YAML::Node> docs;
      ASSERT_NO_THROW(docs = YAML::LoadAll(read(e.path()))) << e.path();
      for (const auto& d : docs) {
        if (d.IsNull()) continue;
        ASSERT_TRUE(d["kind"] && d["apiVersion"] && d["metadata"]["name"]) << e.path();
        by_kind.emplace(d["kind"].as<std::string>(), d);
      }
    }
  }
  YAML::Node one(const std::string& kind) {
    EXPECT_EQ(by_kind.count(kind), 1u) << kind;
    auto it = by_kind.find(kind);
    return it == by_kind.end() ? YAML::Node() : it->second;
  }
  int files = 0;
  std::multimap<std::string, YAML::Node> by_kind;
};

YAML::Node named(const YAML::Node& list, const std::string& name) {
  for (const auto& n : list)
    if (n["name"] && n["name"].as<std::string>() == name) return n;
  ADD_FAILURE() << "nothing named " << name;
  return YAML::Node();
}

YAML::Node mount_of(const YAML::Node& container, const std::string& volume) {
  return named(container["volumeMounts"], volume);
}

// The value after `flag` in an argument list.
std::string arg_after(const YAML::Node& args, const std::string& flag) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i].as<std::string>() == flag) return args[i + 1].as<std::string>();
  ADD_FAILURE() << "no " << flag;
  return {};
}

TEST_F(Manifests, AllParseAndHoldTheThreeObjects) {
  EXPECT_GE(files, 3);
  one("DaemonSet");
  one("ConfigMap");
  one("Secret");
}

TEST_F(Manifests, DaemonSetRunsOnTheHostNetworkWithOnlyTheCapabilitiesItNeeds) {
  const YAML::Node pod = one("DaemonSet")["spec"]["template"]["spec"];
  ASSERT_TRUE(pod);
  EXPECT_TRUE(pod["hostNetwork"].as<bool>());
  bool everywhere = false;
  for (const auto& t : pod["tolerations"])
    everywhere |= t["operator"].as<std::string>() == "Exists" && !t["key"] && !t["effect"];
  EXPECT_TRUE(everywhere) << "the agent must tolerate every taint";

  ASSERT_EQ(pod["containers"].size(), 1u);
  const YAML::Node c = pod["containers"][0];
  const YAML::Node sc = c["securityContext"];
  EXPECT_FALSE(sc["privileged"] && sc["privileged"].as<bool>());
  EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>());
  std::set<std::string> add, drop;
  for (const auto& a : sc["capabilities"]["add"]) add.insert(a.as<std::string>());
  for (const auto& d : sc["capabilities"]["drop"]) drop.insert(d.as<std::string>());
  EXPECT_TRUE(drop.contains("ALL"));
  EXPECT_TRUE(add.contains("NET_ADMIN"));
  EXPECT_TRUE(add.contains("BPF"));
  for (const auto& a : add)
    EXPECT_TRUE(a == "NET_ADMIN" || a == "BPF" || a == "PERFMON") << a << " is more than the agent needs";

  EXPECT_TRUE(c["resources"]["requests"]["cpu"] && c["resources"]["limits"]["memory"]);
}

TEST_F(Manifests, VolumesConfigSecretAndProbesAgreeWithTheAgentConfig) {
  const YAML::Node ds = one("DaemonSet");
  const YAML::Node cm = one("ConfigMap");
  const YAML::Node secret = one("Secret");
  const YAML::Node pod = ds["spec"]["template"]["spec"];
  const YAML::Node c = pod["containers"][0];

  // bpffs from the host, where the maps stay pinned across restarts.
  const YAML::Node bpffs = named(pod["volumes"], "bpffs");
  EXPECT_EQ(bpffs["hostPath"]["path"].as<std::string>(), "/sys/fs/bpf");
  EXPECT_EQ(mount_of(c, "bpffs")["mountPath"].as<std::string>(), "/sys/fs/bpf");
  // The state directory from the host: the generations outlive a reboot, not only the pod.
  const YAML::Node state = named(pod["volumes"], "state");
  EXPECT_EQ(state["hostPath"]["path"].as<std::string>(), "/var/lib/sealnet");
  EXPECT_EQ(mount_of(c, "state")["mountPath"].as<std::string>(), "/var/lib/sealnet");

  // The key Secret, owner-only (the key loader refuses anything looser).
  const YAML::Node keys = named(pod["volumes"], "keys");
  EXPECT_EQ(keys["secret"]["secretName"].as<std::string>(), secret["metadata"]["name"].as<std::string>());
  const std::string mode = keys["secret"]["defaultMode"].Scalar();
  EXPECT_TRUE(mode == "0400" || mode == "0600" || mode == "256" || mode == "384") << mode;
  const std::string keys_dir = mount_of(c, "keys")["mountPath"].as<std::string>();
  EXPECT_EQ(keys_dir, "/etc/sealnet/keys-dir");
  EXPECT_TRUE(mount_of(c, "keys")["readOnly"].as<bool>());

  // The config: --config names a file of the mounted ConfigMap.
  const YAML::Node cfg_vol = named(pod["volumes"], "config");
  EXPECT_EQ(cfg_vol["configMap"]["name"].as<std::string>(), cm["metadata"]["name"].as<std::string>());
  const std::string cfg_dir = mount_of(c, "config")["mountPath"].as<std::string>();
  const YAML::Node args = c["args"];
  ASSERT_TRUE(args && args.size() >= 1);
  EXPECT_EQ(args[0].as<std::string>(), "agent");
  const fs::path cfg_path = arg_after(args, "--config");
  EXPECT_EQ(cfg_path.parent_path().string(), cfg_dir);
  const std::string cfg_key = cfg_path.filename().string();
  ASSERT_TRUE(cm["data"][cfg_key]) << "the ConfigMap has no " << cfg_key;

  // The node is picked by its Kubernetes name.
  EXPECT_EQ(arg_after(args, "--node"), "$(NODE_NAME)");
  EXPECT_EQ(named(c["env"], "NODE_NAME")["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>(),
            "spec.nodeName");

  // The embedded config parses for every node it lists, with the agent's parser.
  const std::string text = cm["data"][cfg_key].as<std::string>();
  const YAML::Node raw = YAML::Load(text);
  ASSERT_GT(raw["peers"].size(), 0u);
  config::AgentConfig cfg;
  for (const auto& p : raw["peers"]) {
    const std::string name = p["name"].as<std::string>();
    auto parsed = config::parse_agent_config(text, "configmap " + cfg_key, {.node_name = name});
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
    EXPECT_EQ(parsed->node.name, name);
    EXPECT_EQ(parsed->peers.size(), raw["peers"].size() - 1);
    cfg = *parsed;
  }
  EXPECT_TRUE(cfg.fail_closed);
  EXPECT_TRUE(cfg.bpffs_dir.starts_with("/sys/fs/bpf/"));
  EXPECT_EQ(cfg.state_dir, "/var/lib/sealnet");  // the hostPath above

  // The key file the config names is the Secret's key in the mounted directory,
  // and its text parses with the agent's key parser.
  const fs::path key_file = cfg.key_file;
  EXPECT_EQ(key_file.parent_path().string(), keys_dir);
  const std::string key_name = key_file.filename().string();
  const YAML::Node key_text = secret["stringData"][key_name];
  ASSERT_TRUE(key_text) << "the Secret has no " << key_name;
  auto ks = keys::parse_key_file(key_text.as<std::string>(), "secret " + key_name);
  ASSERT_TRUE(ks.has_value()) << ks.error().message();
  EXPECT_EQ(ks->keys.size(), 1u);

  // Probes: /healthz and /readyz on the status endpoint the config opens.
  const auto colon = cfg.metrics_listen.rfind(':');
  const std::string host = cfg.metrics_listen.substr(0, colon);
  const int port = std::stoi(cfg.metrics_listen.substr(colon + 1));
  EXPECT_EQ(port, 9962);
  for (const auto& [probe, path] : {std::pair{"livenessProbe", "/healthz"}, {"readinessProbe", "/readyz"}}) {
    const YAML::Node get = c[probe]["httpGet"];
    ASSERT_TRUE(get) << probe;
    EXPECT_EQ(get["path"].as<std::string>(), path);
    EXPECT_EQ(get["port"].as<int>(), port) << probe;
    // A loopback listener is reachable by the kubelet only through the host's loopback.
    if (host == "127.0.0.1") {
      EXPECT_EQ(get["host"].as<std::string>(), "127.0.0.1") << probe;
    }
  }
}

TEST(Deploy, SystemdUnitRunsTheAgentHardened) {
  const std::string unit = read(kDeploy / "systemd" / "sealnet-agent.service");
  ASSERT_FALSE(unit.empty());
  std::map<std::string, std::string> kv;  // last value of each key
  std::istringstream in(unit);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line[0] == '[') continue;
    const auto eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  EXPECT_NE(kv["ExecStart"].find("sealnet agent --config /"), std::string::npos) << kv["ExecStart"];
  EXPECT_EQ(kv["ProtectSystem"], "strict");
  EXPECT_NE(kv["ReadWritePaths"].find("/sys/fs/bpf"), std::string::npos);
  // The state dir (config default /var/lib/sealnet) is writable under ProtectSystem=strict.
  EXPECT_EQ(kv["StateDirectory"], "sealnet");
  EXPECT_EQ(kv["NoNewPrivileges"], "yes");
  EXPECT_EQ(kv["ProtectHome"], "yes");
  EXPECT_EQ(kv["PrivateTmp"], "yes");
  EXPECT_EQ(kv["SystemCallArchitectures"], "native");
  EXPECT_EQ(kv["RestrictAddressFamilies"], "AF_NETLINK AF_INET AF_INET6 AF_UNIX");
  for (const char* key : {"CapabilityBoundingSet", "AmbientCapabilities"}) {
    std::istringstream caps(kv[key]);
    std::set<std::string> set;
    for (std::string c; caps >> c;) set.insert(c);
    EXPECT_TRUE(set.contains("CAP_NET_ADMIN") && set.contains("CAP_BPF")) << key;
    for (const auto& c : set)
      EXPECT_TRUE(c == "CAP_NET_ADMIN" || c == "CAP_BPF" || c == "CAP_PERFMON") << key << ": " << c;
  }
}

TEST(Deploy, ContainerfileInstallsThePackage) {
  const std::string cf = read(kDeploy / "Containerfile");
  EXPECT_NE(cf.find("FROM debian:12 AS build"), std::string::npos);
  EXPECT_NE(cf.find("--target sealnet"), std::string::npos);
  EXPECT_NE(cf.find("cpack --config build/CPackConfig.cmake"), std::string::npos);
  EXPECT_NE(cf.find("apt-get install -y -q --no-install-recommends /tmp/sealnet.deb"), std::string::npos);
  EXPECT_NE(cf.find("ENTRYPOINT [\"/usr/sbin/sealnet\"]"), std::string::npos);
}

// The package's /etc/sealnet/agent.yaml: the agent's parser takes it as it is,
// and the key file and unit agree on where things are.
TEST(Deploy, PackagedConfigParses) {
  auto parsed = config::parse_agent_config(read(kDeploy / "agent.yaml"), "deploy/agent.yaml", {});
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  EXPECT_EQ(parsed->key_file, "/etc/sealnet/keys");
  EXPECT_TRUE(parsed->fail_closed);
  EXPECT_EQ(parsed->bpffs_dir, "/sys/fs/bpf/sealnet");
  EXPECT_EQ(parsed->state_dir, "/var/lib/sealnet");  // the unit's StateDirectory
}

// The binary is where the package puts it, for the unit, the image and the DaemonSet.
TEST(Deploy, EveryManifestRunsThePackagedBinary) {
  const std::string unit = read(kDeploy / "systemd" / "sealnet-agent.service");
  EXPECT_NE(unit.find("\nExecStart=/usr/sbin/sealnet agent --config /etc/sealnet/agent.yaml\n"), std::string::npos);
  const std::string ds = read(kDeploy / "kubernetes" / "daemonset.yaml");
  EXPECT_NE(ds.find("command: [\"/usr/sbin/sealnet\"]"), std::string::npos);
  const std::string conffiles = read(kDeploy / "debian" / "conffiles");
  EXPECT_EQ(conffiles, "/etc/sealnet/agent.yaml\n");
}

}  // namespace
}  // namespace sealnet
