/**
 * The Kubernetes objects in deploy/k8s and the Helm chart, parsed as YAML and checked against the code:
 * probe paths that exist, flags `vllm serve` accepts, metric names src/server/metrics.ts exports, and
 * paths and the user the image sets. No helm binary exists here, so the chart's templates are checked
 * for the values they use rather than rendered.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { serveHelp } from "../../src/cli/serve";
import { isRepoId } from "../../src/model_loader/hf_hub";
import { VERSION } from "../../src/version";
import { REPO_ROOT } from "../support/tiny_models";

type Obj = Record<string, any>;
const K8S = join(REPO_ROOT, "deploy", "k8s");
const CHART = join(REPO_ROOT, "deploy", "helm", "vllm-bun");

function load(...files: string[]): Obj[] {
  return files.flatMap((f) => parseAllDocuments(readFileSync(join(K8S, f), "utf8")).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as Obj;
  }));
}

const objects = load(...readdirSync(K8S).filter((f) => f.endsWith(".yaml")), ...["keda-scaledobject.yaml", "hpa.yaml"].map((f) => `autoscaling/${f}`));
const byKind = (kind: string) => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found.length).toBe(1);
  return found[0];
};
const deployment = byKind("Deployment");
const pod = deployment.spec.template.spec;
const container = pod.containers[0];

const METRICS = new Set([...readFileSync(join(REPO_ROOT, "src", "server", "metrics.ts"), "utf8").matchAll(/"(vllm:[a-z_]+)"/g)].map((m) => m[1]));
const HEALTH_ROUTES = readFileSync(join(REPO_ROOT, "src", "server", "health", "router.ts"), "utf8");
const dockerfile = readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8");
const HF_HOME = /^VOLUME \["([^"]+)"\]$/m.exec(dockerfile)![1];
const metricNames = (query: string) => [...query.matchAll(/vllm:[a-z_]+/g)].map((m) => m[0]);

describe("deploy/k8s", () => {
  test("the Deployment runs `vllm serve` with flags it accepts, on one GPU, as the image's user", () => {
    const [model, ...flags] = container.args as string[];
    expect(isRepoId(model)).toBe(true);
    const help = serveHelp();
    for (const f of flags.filter((a) => a.startsWith("--"))) expect(help).toContain(`  ${f} `);
    expect(container.resources.limits["nvidia.com/gpu"]).toBe(1);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, fsGroup: 65532 });
    expect(dockerfile).toContain("USER 65532:65532");
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(30); // serve's default --shutdown-timeout
  });

  test("probes ask /health on the named port, which the server routes", () => {
    expect(container.ports).toEqual([{ name: "http", containerPort: 8000 }]);
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) expect(container[probe].httpGet).toEqual({ path: "/health", port: "http" });
    expect(HEALTH_ROUTES).toContain('.get("/health"');
    // The download of a large model fits in the startup window before liveness can restart the pod.
    expect(container.startupProbe.periodSeconds * container.startupProbe.failureThreshold).toBeGreaterThanOrEqual(1800);
  });

  test("the HF cache PVC is mounted where the image keeps HF_HOME", () => {
    const pvc = byKind("PersistentVolumeClaim");
    expect(pvc.spec.accessModes).toEqual(["ReadWriteMany"]);
    const volume = pod.volumes.find((v: Obj) => v.persistentVolumeClaim?.claimName === pvc.metadata.name);
    expect(container.volumeMounts).toEqual([{ name: volume.name, mountPath: HF_HOME }]);
  });

  test("the Service and ServiceMonitor select the pods and scrape /metrics", () => {
    const svc = byKind("Service");
    const labels = deployment.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(labels[k]).toBe(v);
    expect(svc.spec.ports).toEqual([{ name: "http", port: 8000, targetPort: "http" }]);
    const sm = byKind("ServiceMonitor");
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    expect(sm.spec.endpoints).toEqual([{ port: "http", path: "/metrics", interval: "15s" }]);
  });

  test("KEDA scales the Deployment on vllm:num_requests_waiting of the served model", () => {
    const so = byKind("ScaledObject");
    expect(so.spec.scaleTargetRef.name).toBe(deployment.metadata.name);
    const trigger = so.spec.triggers[0];
    expect(trigger.type).toBe("prometheus");
    expect(metricNames(trigger.metadata.query)).toEqual(["vllm:num_requests_waiting"]);
    for (const m of metricNames(trigger.metadata.query)) expect(METRICS.has(m)).toBe(true);
    expect(trigger.metadata.query).toContain(`model_name="${container.args[0]}"`); // no --served-model-name: the id as given
  });

  test("the HPA's metric is the one the prometheus-adapter rule exposes from an exported series", () => {
    const hpa = byKind("HorizontalPodAutoscaler");
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name });
    const rule = parse(readFileSync(join(K8S, "autoscaling", "prometheus-adapter-rules.yaml"), "utf8")).rules.custom[0];
    expect(hpa.spec.metrics[0].pods.metric.name).toBe(rule.name.as);
    for (const m of metricNames(rule.seriesQuery)) expect(METRICS.has(m)).toBe(true);
  });

  test("the production-stack router finds the engine pods by label on the engine port", () => {
    const docs = load("router/production-stack-router.yaml");
    const router = docs.find((o) => o.kind === "Deployment")!.spec.template.spec.containers[0];
    const arg = (name: string) => (router.args as string[]).find((a) => a.startsWith(`--${name}=`))?.split("=").slice(1).join("=");
    expect(arg("service-discovery")).toBe("k8s");
    expect(Number(arg("k8s-port"))).toBe(container.ports[0].containerPort);
    const [key, value] = arg("k8s-label-selector")!.split("=");
    expect(deployment.spec.template.metadata.labels[key]).toBe(value);
    // It reads these from each engine's /metrics; the server exports them.
    for (const m of ["vllm:num_requests_running", "vllm:num_requests_waiting"]) expect(METRICS.has(m)).toBe(true);
    const role = docs.find((o) => o.kind === "Role")!;
    expect(role.rules[0]).toEqual({ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] });
  });
});

describe("deploy/helm/vllm-bun", () => {
  const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as Obj;
  const templates = readdirSync(join(CHART, "templates")).map((f) => ({ f, text: readFileSync(join(CHART, "templates", f), "utf8") }));

  test("Chart.yaml is a v2 application chart at the binary's version", () => {
    const chart = parse(readFileSync(join(CHART, "Chart.yaml"), "utf8"));
    expect(chart).toMatchObject({ apiVersion: "v2", name: "vllm-bun", type: "application", appVersion: VERSION });
  });

  test("every .Values path the templates use is defined in values.yaml", () => {
    const used = new Set(templates.flatMap(({ text }) => [...text.matchAll(/\.Values((?:\.[A-Za-z_][\w]*)+)/g)].map((m) => m[1].slice(1))));
    expect(used.size).toBeGreaterThan(30);
    for (const path of used) {
      const value = path.split(".").reduce<any>((o, k) => (o === undefined || o === null ? undefined : o[k]), values);
      expect({ path, defined: value !== undefined }).toEqual({ path, defined: true });
    }
  });

  test("templates cover every object, with balanced template actions", () => {
    const kinds = templates.flatMap(({ text }) => [...text.matchAll(/^kind: (\w+)$/gm)].map((m) => m[1])).sort();
    expect(kinds).toEqual(["Deployment", "HorizontalPodAutoscaler", "PersistentVolumeClaim", "PodMonitor", "ScaledObject", "Service", "ServiceMonitor"]);
    const count = (text: string, s: string) => text.split(s).length - 1;
    for (const { f, text } of templates) expect({ f, opened: count(text, "{{") }).toEqual({ f, opened: count(text, "}}") });
  });

  test("its defaults agree with the plain manifests and the code", () => {
    expect(values.probes.path).toBe("/health");
    expect(values.metrics.path).toBe("/metrics");
    expect(values.hfCache.mountPath).toBe(HF_HOME);
    expect(values.port).toBe(8000);
    expect(values.model).toBe(container.args[0]);
    expect(values.gpu).toMatchObject({ enabled: true, count: 1 });
    const keda = templates.find((t) => t.f === "scaledobject.yaml")!.text;
    for (const m of metricNames(keda)) expect(METRICS.has(m)).toBe(true);
    const deploymentTpl = templates.find((t) => t.f === "deployment.yaml")!.text;
    for (const f of deploymentTpl.matchAll(/^\s+- (--[a-z-]+)$/gm)) expect(serveHelp()).toContain(`  ${f[1]} `);
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) expect(deploymentTpl).toContain(`${probe}:\n            httpGet: { path: {{ .Values.probes.path }}, port: http }`);
    expect(deploymentTpl).toContain('"nvidia.com/gpu" .Values.gpu.count');
  });
});
