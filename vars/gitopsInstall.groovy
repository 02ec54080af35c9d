// Puts the gitops-toolkit binaries of the library's version on the agent, into a per-version cache,
// and (with a body) runs the body with them first on PATH. Returns the bin directory.
//
//   source 'path'    (binDir, default env.GITOPS_TOOLKIT_BIN): binaries already on the agent
//                    (make install PREFIX=...)
//   source 'archive' (url, default env.GITOPS_TOOLKIT_ARCHIVE_URL): a .tar.gz of the binaries,
//                    downloaded with curl and unpacked
//   source 'cargo'   (otherwise): the toolkit at <version>, cloned from repoUrl (default
//                    env.GITOPS_TOOLKIT_URL) or a local checkout in sourceDir, built with cargo --release

def call(Closure body) {
    return call([:], body)
}

def call(Map options = [:], Closure body = null) {
    Map config = [binDir: env.GITOPS_TOOLKIT_BIN, url: env.GITOPS_TOOLKIT_ARCHIVE_URL, repoUrl: env.GITOPS_TOOLKIT_URL] + (options ?: [:])
    String version = config.version ?: env.getProperty('library.gitops-toolkit.version') ?: 'main'
    String source = config.source ?: (config.binDir ? 'path' : (config.url ? 'archive' : 'cargo'))
    String cache = config.cacheDir ?: "${env.HOME}/.cache/gitops-toolkit/bin"
    String bin = source == 'path' ? config.binDir : "${cache}/${version}/bin"
    if (!(source in ['path', 'archive', 'cargo'])) {
        error("gitopsInstall: source '${source}': allowed are path, archive, cargo")
    }
    Map values = [
        GITOPS_ARG_SOURCE: source,
        GITOPS_ARG_VERSION: version,
        GITOPS_ARG_BIN: bin,
        GITOPS_ARG_URL: config.url ?: '',
        GITOPS_ARG_STRIP: config.stripComponents ?: '0',
        GITOPS_ARG_REPO_URL: config.repoUrl ?: '',
        GITOPS_ARG_SOURCE_DIR: config.sourceDir ?: '',
        GITOPS_ARG_REBUILD: config.rebuild ? '1' : '',
    ]
    List envList = []
    for (String name : values.keySet()) {
        envList << "${name}=${values[name]}"
    }
    withEnv(envList) {
        sh(label: 'gitops-toolkit binaries', script: libraryScript())
    }
    if (body == null) {
        return bin
    }
    def result = null
    withEnv(["PATH+GITOPS=${bin}"]) {
        result = body()
    }
    return result
}

// The installer, as one fixed script: every value comes from GITOPS_ARG_* variables.
String libraryScript() {
    return '''#!/bin/sh
set -eu
bin=$GITOPS_ARG_BIN
if [ "$GITOPS_ARG_SOURCE" = path ]; then
  [ -x "$bin/gitops-render" ] || { echo "gitopsInstall: no gitops-render in $bin" >&2; exit 2; }
elif [ -x "$bin/gitops-render" ] && [ -z "$GITOPS_ARG_REBUILD" ]; then
  echo "gitopsInstall: gitops-toolkit $GITOPS_ARG_VERSION cached in $bin"
else
  dest=${bin%/bin}
  tmp=$dest.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp/bin"
  trap 'rm -rf "$tmp"' EXIT
  case $GITOPS_ARG_SOURCE in
    archive)
      [ -n "$GITOPS_ARG_URL" ] || { echo "gitopsInstall: source archive needs url" >&2; exit 2; }
      curl -fsSL --retry 3 -o "$tmp/toolkit.tar.gz" -- "$GITOPS_ARG_URL"
      tar -xzf "$tmp/toolkit.tar.gz" -C "$tmp/bin" --strip-components="$GITOPS_ARG_STRIP"
      rm -f "$tmp/toolkit.tar.gz"
      ;;
    cargo)
      src=$GITOPS_ARG_SOURCE_DIR
      if [ -z "$src" ]; then
        [ -n "$GITOPS_ARG_REPO_URL" ] || { echo "gitopsInstall: source cargo needs repoUrl or sourceDir" >&2; exit 2; }
        git clone -q --depth 1 --branch "$GITOPS_ARG_VERSION" -- "$GITOPS_ARG_REPO_URL" "$tmp/src"
        src=$tmp/src
      fi
      cargo build --release --locked --manifest-path "$src/Cargo.toml" --target-dir "$tmp/target"
      find "$tmp/target/release" -maxdepth 1 -type f -name 'gitops-*' ! -name '*.d' -perm -u+x -exec cp {} "$tmp/bin/" \\;
      rm -rf "$tmp/target" "$tmp/src"
      ;;
  esac
  [ -x "$tmp/bin/gitops-render" ] || { echo "gitopsInstall: the $GITOPS_ARG_SOURCE install has no gitops-render" >&2; exit 1; }
  rm -rf "$dest"
  mv "$tmp" "$dest"
  trap - EXIT
fi
# A library version that is a release tag (v1.2.3) must match the binaries' version.
have=$("$bin/gitops-render" --version)
case $GITOPS_ARG_VERSION in
  v[0-9]*.[0-9]*.[0-9]*)
    case " $have " in
      *" ${GITOPS_ARG_VERSION#v} "*) ;;
      *) echo "gitopsInstall: library $GITOPS_ARG_VERSION but $bin has $have" >&2; exit 1 ;;
    esac ;;
esac
echo "gitopsInstall: $have in $bin"
'''
}
