#!/usr/bin/env python3
"""Validates the Kubernetes manifests of k8s/ offline, so that a broken manifest fails the tests.

    python3 k8s/validate.py                 # every overlay, the base, and every other YAML under k8s/
    python3 k8s/validate.py PATH...         # only these files or kustomization directories

1. Each overlay (and the base) is rendered as `kubectl apply -k` would send it. kustomize is often
   absent from CI machines, so the rendering is done here, for exactly the kustomization fields k8s/
   uses (resources, namespace, images, patches by file); any other field is an error rather than
   silently ignored. When `kubectl` is on the PATH, `kubectl kustomize` renders it too and both
   renderings must be identical, which keeps this small renderer honest.
2. Every rendered document, and every YAML file outside a kustomization (secret.template.yaml), is
   checked by kubernetes-validate against the Kubernetes 1.30 OpenAPI schemas in strict mode:
   unknown fields and wrong types are errors.
3. Cross-references that the schemas cannot see: workload selectors match their pod labels, every
   Service, PodDisruptionBudget and NetworkPolicy selects pods that exist, HPA targets exist, and
   every ConfigMap and Secret a pod uses is defined (Secrets in secret.template.yaml).

Exit status 0 when all is valid, 1 otherwise (each problem on stderr, with file and document).
"""

import argparse
import copy
import os
import shutil
import subprocess
import sys

try:
    import yaml
    import kubernetes_validate
except ImportError as e:  # pragma: no cover - message for a machine without the package
    sys.exit(f"validate.py: {e}; install it with `pip install kubernetes-validate`")

K8S_VERSION = "1.30"
HERE = os.path.dirname(os.path.abspath(__file__))

# Strategic merge keys of the lists patched in k8s/ (from the Kubernetes OpenAPI
# x-kubernetes-patch-merge-key); any other list is replaced whole, as kustomize does.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
    "CustomResourceDefinition", "PriorityClass", "IngressClass",
}
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class Invalid(Exception):
    pass


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        try:
            return [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            raise Invalid(f"{path}: not YAML: {e}")


def strategic_merge(base, patch, field=None):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if isinstance(key, str) and key.startswith("$"):
                raise Invalid(f"patch directive {key} is not supported by validate.py")
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = strategic_merge(out[key], value, key)
            else:
                out[key] = value
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        out = list(base)
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise Invalid(f"patch of list {field} needs {key} in every item")
            for i, existing in enumerate(out):
                if isinstance(existing, dict) and existing.get(key) == item[key]:
                    out[i] = strategic_merge(existing, item, None)
                    break
            else:
                out.append(item)
        return out
    return patch


def pod_specs(doc):
    spec = doc.get("spec") or {}
    if doc.get("kind") in POD_TEMPLATE_KINDS:
        yield ((spec.get("template") or {}).get("spec") or {})
    elif doc.get("kind") == "CronJob":
        yield (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    elif doc.get("kind") == "Pod":
        yield spec


def set_images(docs, images):
    for image in images:
        name = image["name"]
        for doc in docs:
            for spec in pod_specs(doc):
                for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                    ref = c.get("image", "")
                    bare = ref.split("@")[0]
                    if ":" in bare.rsplit("/", 1)[-1]:
                        bare = bare.rsplit(":", 1)[0]
                    if bare != name:
                        continue
                    new = image.get("newName", name)
                    if "digest" in image:
                        c["image"] = f"{new}@{image['digest']}"
                    elif "newTag" in image:
                        c["image"] = f"{new}:{image['newTag']}"
                    else:
                        c["image"] = new + ref[len(bare):]


def identity(doc):
    meta = doc.get("metadata") or {}
    return (doc.get("kind"), meta.get("namespace"), meta.get("name"))


def render(directory):
    """The documents `kubectl kustomize directory` would print (for the fields used in k8s/)."""
    path = os.path.join(directory, "kustomization.yaml")
    loaded = load_yaml(path)
    if len(loaded) != 1 or not isinstance(loaded[0], dict):
        raise Invalid(f"{path}: one mapping expected")
    k = loaded[0]
    unknown = set(k) - KUSTOMIZATION_FIELDS
    if unknown:
        raise Invalid(f"{path}: fields not understood by validate.py: {sorted(unknown)}")
    docs = []
    for resource in k.get("resources") or []:
        full = os.path.normpath(os.path.join(directory, resource))
        if os.path.isdir(full):
            docs.extend(render(full))
        elif os.path.isfile(full):
            for doc in load_yaml(full):
                doc = copy.deepcopy(doc)
                doc.setdefault("metadata", {})
                docs.append(doc)
        else:
            raise Invalid(f"{path}: resource {resource} not found")
    for entry in k.get("patches") or []:
        if set(entry) != {"path"}:
            raise Invalid(f"{path}: only `patches: - path: FILE` is supported, got {sorted(entry)}")
        patch_path = os.path.join(directory, entry["path"])
        for patch in load_yaml(patch_path):
            target = (patch.get("kind"), (patch.get("metadata") or {}).get("name"))
            matches = [d for d in docs if (d.get("kind"), d["metadata"].get("name")) == target]
            if len(matches) != 1:
                raise Invalid(f"{os.path.relpath(patch_path)}: patch of {target[0]}/{target[1]} matches {len(matches)} resources")
            i = docs.index(matches[0])
            docs[i] = strategic_merge(matches[0], patch)
    set_images(docs, k.get("images") or [])
    if k.get("namespace"):
        for doc in docs:
            if doc.get("kind") not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = k["namespace"]
    seen = set()
    for doc in docs:
        if identity(doc) in seen:
            raise Invalid(f"{path}: {identity(doc)} defined twice")
        seen.add(identity(doc))
    return docs


def kubectl_render(directory):
    result = subprocess.run(["kubectl", "kustomize", directory], capture_output=True, text=True)
    if result.returncode != 0:
        raise Invalid(f"kubectl kustomize {os.path.relpath(directory)}: {result.stderr.strip()}")
    return [d for d in yaml.safe_load_all(result.stdout) if d is not None]


def compare_with_kubectl(directory, docs):
    theirs = {identity(d): d for d in kubectl_render(directory)}
    ours = {identity(d): d for d in docs}
    problems = []
    for key in sorted(set(theirs) | set(ours), key=str):
        if theirs.get(key) != ours.get(key):
            problems.append(f"{os.path.relpath(directory)}: {key}: validate.py and `kubectl kustomize` render it differently")
    return problems


def schema_problems(where, doc):
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        location = ".".join(str(p) for p in e.path)
        return [f"{where}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}: "
                f"{location or '(root)'}: {e.message}"]
    except Exception as e:  # unknown kind or apiVersion, malformed document
        return [f"{where}: {type(e).__name__}: {e}"]
    return []


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def reference_problems(where, docs, templates):
    """Links between documents that a schema cannot check."""
    problems = []
    names = {(d.get("kind"), d["metadata"].get("name")) for d in docs + templates}
    pod_labels = []
    for d in docs:
        if d.get("kind") in POD_TEMPLATE_KINDS:
            labels = ((d["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
            selector = (d["spec"].get("selector") or {}).get("matchLabels") or {}
            if not matches(selector, labels):
                problems.append(f"{where}: {d['kind']}/{d['metadata']['name']}: selector does not match the pod labels")
            pod_labels.append(labels)
    for d in docs:
        kind, name = d.get("kind"), d["metadata"].get("name")
        spec = d.get("spec") or {}
        selector = None
        if kind == "Service":
            selector = spec.get("selector")
        elif kind in ("PodDisruptionBudget", "NetworkPolicy"):
            selector = ((spec.get("selector") or spec.get("podSelector")) or {}).get("matchLabels")
        if selector is not None and not any(matches(selector, labels) for labels in pod_labels):
            problems.append(f"{where}: {kind}/{name}: selects no pod of these manifests")
        if kind == "HorizontalPodAutoscaler":
            ref = spec.get("scaleTargetRef") or {}
            if (ref.get("kind"), ref.get("name")) not in names:
                problems.append(f"{where}: {kind}/{name}: target {ref.get('kind')}/{ref.get('name')} not defined")
        for pod in pod_specs(d):
            wanted = set()
            for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
                for src in c.get("envFrom") or []:
                    if "configMapRef" in src:
                        wanted.add(("ConfigMap", src["configMapRef"]["name"]))
                    if "secretRef" in src:
                        wanted.add(("Secret", src["secretRef"]["name"]))
                for env in c.get("env") or []:
                    ref = env.get("valueFrom") or {}
                    if "configMapKeyRef" in ref:
                        wanted.add(("ConfigMap", ref["configMapKeyRef"]["name"]))
                    if "secretKeyRef" in ref:
                        wanted.add(("Secret", ref["secretKeyRef"]["name"]))
                mounts = {m["name"] for m in c.get("volumeMounts") or []}
                declared = {v["name"] for v in pod.get("volumes") or []}
                declared |= {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates") or []}
                for missing in sorted(mounts - declared):
                    problems.append(f"{where}: {kind}/{name}: volumeMount {missing} has no volume")
            for v in pod.get("volumes") or []:
                if "configMap" in v:
                    wanted.add(("ConfigMap", v["configMap"]["name"]))
                if "secret" in v:
                    wanted.add(("Secret", v["secret"]["secretName"]))
            for ref in sorted(wanted - names):
                problems.append(f"{where}: {kind}/{name}: uses {ref[0]} {ref[1]}, defined nowhere")
    return problems


def kustomization_dirs(root):
    found = []
    for directory, _, files in os.walk(root):
        if "kustomization.yaml" in files:
            found.append(directory)
    return sorted(found)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", help="YAML files or kustomization directories (default: all of k8s/)")
    parser.add_argument("--no-kubectl", action="store_true", help="do not cross-check with `kubectl kustomize`")
    args = parser.parse_args(argv)

    dirs = kustomization_dirs(HERE) if not args.paths else [p for p in args.paths if os.path.isdir(p)]
    if args.paths:
        loose = [p for p in args.paths if not os.path.isdir(p)]
    else:
        # Files that no kustomization reaches (the Secret template) are validated on their own.
        reached = set()
        for d in dirs:
            k = (load_yaml(os.path.join(d, "kustomization.yaml")) or [{}])[0] or {}
            for entry in (k.get("resources") or []) + [p["path"] for p in k.get("patches") or [] if "path" in p]:
                reached.add(os.path.normpath(os.path.join(d, entry)))
            reached.add(os.path.normpath(os.path.join(d, "kustomization.yaml")))
        loose = sorted(
            os.path.join(d, f)
            for d, _, files in os.walk(HERE)
            for f in files
            if f.endswith((".yaml", ".yml")) and os.path.normpath(os.path.join(d, f)) not in reached
        )

    use_kubectl = not args.no_kubectl and shutil.which("kubectl") is not None
    problems, count = [], 0
    templates = []
    for path in loose:
        try:
            docs = load_yaml(path)
        except Invalid as e:
            problems.append(str(e))
            continue
        for doc in docs:
            count += 1
            problems += schema_problems(os.path.relpath(path), doc)
            if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
                templates.append(doc)
    for d in dirs:
        where = os.path.relpath(d)
        try:
            docs = render(d)
        except Invalid as e:
            problems.append(str(e))
            continue
        found = []
        for doc in docs:
            count += 1
            found += schema_problems(where, doc)
        # References are only meaningful between documents that are themselves well-formed.
        problems += found or reference_problems(where, docs, templates)
        if use_kubectl:
            try:
                problems += compare_with_kubectl(d, docs)
            except Invalid as e:
                problems.append(str(e))

    for p in problems:
        print(f"INVALID {p}", file=sys.stderr)
    checked = f"{count} documents, {len(dirs)} kustomizations, Kubernetes {K8S_VERSION} strict"
    checked += ", cross-checked with kubectl kustomize" if use_kubectl else ""
    if problems:
        print(f"{len(problems)} problem(s) in {checked}", file=sys.stderr)
        return 1
    print(f"ok: {checked}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
