// Names a person did not have to type: the default name of a new snapshot.

interface Named {
  name: string | null;
  children: readonly Named[];
}

const NUMBERED = /^Snapshot (\d+)$/;

/** "Snapshot 3": one past the highest "Snapshot N" in the tree (so a gap left by a deleted one is not reused and confused with it). */
export function nextSnapshotName(root: Named): string {
  let most = 0;
  const walk = (n: Named) => {
    const m = NUMBERED.exec(n.name?.trim() ?? '');
    if (m) most = Math.max(most, Number(m[1]));
    n.children.forEach(walk);
  };
  walk(root);
  return `Snapshot ${most + 1}`;
}
