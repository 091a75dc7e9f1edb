// A scripted VhdsnapApi for component tests: answers from fixtures, records
// every call (method and arguments), and lets a test push job events.
import type { DiskDetails, DiskNode, DiskRef, FolderGrant, FolderView, JobEvent, OperationArgs, FileGrant, Plan, VhdsnapApi } from '../../server/api.js';

export interface Call {
  method: keyof VhdsnapApi;
  args: unknown[];
}

const T0 = Date.parse('2026-01-10T12:00:00Z');

/** A disk entry with plausible defaults; `children` given as nodes. */
export function disk(folder: string, file: string, over: Partial<DiskNode> = {}): DiskNode {
  const children = over.children ?? [];
  return {
    path: `/data/${folder}/${file}`,
    uuid: `00000000-0000-4000-8000-${String(file.length).padStart(4, '0')}${file.replace(/\W/g, '').slice(0, 8).padEnd(8, '0')}`,
    type: 'differencing',
    virtualSize: 8 * 2 ** 30,
    fileSize: 3 * 2 ** 20,
    blockSize: 2 * 2 ** 20,
    allocatedBlocks: 1,
    timestamp: new Date(T0).toISOString(),
    creatorApp: 'win ',
    parentUuid: null,
    parentName: null,
    name: null,
    description: null,
    ref: { folder, file },
    isLeaf: children.length === 0,
    // A leaf is active unless the fixture says otherwise (markActive below picks one per tree).
    active: children.length === 0,
    state: children.length === 0 ? 'active' : 'snapshot',
    children,
    ...over,
  };
}

/** What main's details say of a disk, plausible in every field; `over` sets the ones a test looks at. */
export function sampleInfo(ref: DiskRef, over: Partial<DiskDetails['info']> = {}): DiskDetails['info'] {
  return {
    path: `/data/${ref.folder}/${ref.file}`,
    type: 'dynamic',
    virtualSize: 64 * 2 ** 20,
    blockSize: 2 * 2 ** 20,
    uuid: '00000000-0000-4000-8000-000000000000',
    timestamp: '2026-12-01T10:00:00.000Z',
    creatorApp: 'vsnp',
    creatorVersion: '1.0',
    creatorHostOs: 'Wi2k',
    fileSize: 4 * 2 ** 20,
    allocatedBlocks: 1,
    totalBlocks: 32,
    name: null,
    description: null,
    parent: null,
    chain: [`/data/${ref.folder}/${ref.file}`],
    chainError: null,
    warnings: [],
    ...over,
  };
}

/**
 * Folder "lab": base.vhd has two children (snap-a, snap-b); snap-a has two
 * leaves, snap-b one; plus a lone fixed disk; one orphan and one unreadable file.
 */
export function labView(): FolderView {
  const f = 'lab';
  const a1 = disk(f, 'leaf-a1.vhd', { name: 'Dev box', parentName: 'snap-a.vhd' });
  const a2 = disk(f, 'leaf-a2.vhd', { parentName: 'snap-a.vhd' });
  const b1 = disk(f, 'leaf-b.vhd', { parentName: 'snap-b.vhd', description: 'test branch' });
  const snapA = disk(f, 'snap-a.vhd', { name: 'before upgrade', parentName: 'base.vhd', children: [a1, a2] });
  const snapB = disk(f, 'snap-b.vhd', { parentName: 'base.vhd', children: [b1] });
  const base = disk(f, 'base.vhd', { type: 'dynamic', name: 'Windows base', allocatedBlocks: 3, children: [snapA, snapB] });
  // One active disk per tree (core/library/active.ts): leaf-a1; the other leaves are saved states.
  for (const saved of [a2, b1]) Object.assign(saved, { active: false, state: 'saved' });
  const lone = disk(f, 'lone.vhd', { type: 'fixed', blockSize: null, allocatedBlocks: null });
  return {
    folder: { id: 'lab', path: '/data/lab', name: 'lab' },
    pending: [],
    roots: [base, lone],
    orphans: [
      {
        path: '/data/lab/lost.vhd',
        parentUuid: 'ffffffff-0000-4000-8000-000000000000',
        parentName: 'gone.vhd',
        reason: 'parent gone.vhd not found',
        code: 'PARENT_NOT_FOUND',
        ref: { folder: f, file: 'lost.vhd' },
      },
    ],
    unreadable: [{ path: '/data/lab/junk.vhd', code: 'BAD_FOOTER', reason: 'footer checksum does not match', ref: { folder: f, file: 'junk.vhd' } }],
  };
}

/** Every disk of a view, depth first (the tree's visible order when all are expanded). */
export function allDisks(view: FolderView): DiskNode[] {
  const out: DiskNode[] = [];
  const walk = (n: DiskNode) => {
    out.push(n);
    n.children.forEach(walk);
  };
  view.roots.forEach(walk);
  return out;
}

export function okPlan(over: Partial<Plan> = {}): Plan {
  return {
    operation: 'delete',
    summary: 'remove snap-a.vhd and fold its content into its children',
    changes: [{ path: '/data/lab/snap-a.vhd', action: 'delete' }],
    bytesToCopy: 6 * 2 ** 20,
    worstCaseGrowth: 12 * 2 ** 20,
    freeSpace: 2 ** 30,
    refusals: [],
    ...over,
  };
}

export class FakeApi implements VhdsnapApi {
  readonly calls: Call[] = [];
  views = new Map<string, FolderView>([['lab', labView()]]);
  grant: FolderGrant | null = { id: 'lab', path: '/data/lab', name: 'lab' };
  recent = [{ path: '/data/lab', name: 'lab' }];
  output: FileGrant | null = { id: 'out-1', path: '/data/out/flat.vhd', name: 'flat.vhd' };
  nextPlan: Plan | Error | { code: string; message: string } = okPlan();
  nextStart: { jobId: string } | { code: string; message: string } = { jobId: 'job-1' };
  detailsFor: (ref: DiskRef) => DiskDetails = (ref) => ({ ref, info: sampleInfo(ref), uniqueBytes: 0, allocationMap: [], blocksPerCell: 1 });
  private listeners = new Set<(e: JobEvent) => void>();

  private record(method: keyof VhdsnapApi, ...args: unknown[]) {
    this.calls.push({ method, args });
  }
  callsOf(method: keyof VhdsnapApi): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }
  /** Delivers a job event to every subscriber, as main's webContents.send would. */
  emit(e: JobEvent) {
    for (const l of this.listeners) l(e);
  }
  get listenerCount() {
    return this.listeners.size;
  }

  async appVersion() {
    this.record('appVersion');
    return '0.0.0-test';
  }
  async openFolder() {
    this.record('openFolder');
    return this.grant;
  }
  async recentFolders() {
    this.record('recentFolders');
    return this.recent;
  }
  async openRecent(path: string) {
    this.record('openRecent', path);
    return { id: 'lab', path, name: 'lab' };
  }
  async dropFolder(item: File) {
    this.record('dropFolder', item);
    return { id: 'lab', path: '/data/lab', name: 'lab' };
  }
  async closeFolder(folder: string) {
    this.record('closeFolder', folder);
  }
  async scan(folder: string) {
    this.record('scan', folder);
    const v = this.views.get(folder);
    if (!v) throw { code: 'NOT_GRANTED', message: `folder ${folder} is not open` };
    return structuredClone(v);
  }
  async details(ref: DiskRef) {
    this.record('details', ref);
    return this.detailsFor(ref);
  }
  /** Unique bytes per file name (the Cost column); a file not listed has none known. */
  costsByFile: Record<string, number> = {};
  async costs(refs: DiskRef[]) {
    this.record('costs', refs);
    return refs.map((r) => this.costsByFile[r.file] ?? null);
  }
  async setLabel(ref: DiskRef, label: { name?: string; description?: string }) {
    this.record('setLabel', ref, label);
  }
  async chooseOutput(suggestedName: string) {
    this.record('chooseOutput', suggestedName);
    return this.output;
  }
  input: FileGrant | null = { id: 'in-1', path: '/data/lab/image.raw', name: 'image.raw' };
  async chooseInput(name?: string, folder?: string) {
    this.record('chooseInput', name, folder);
    return this.input;
  }
  async resume(journal: DiskRef) {
    this.record('resume', journal);
    if ('code' in this.nextStart) throw this.nextStart;
    return this.nextStart;
  }
  async rollback(journal: DiskRef) {
    this.record('rollback', journal);
    if ('code' in this.nextStart) throw this.nextStart;
    return this.nextStart;
  }
  async plan(args: OperationArgs) {
    this.record('plan', args);
    if ('summary' in this.nextPlan) return this.nextPlan;
    throw this.nextPlan;
  }
  async start(args: OperationArgs) {
    this.record('start', args);
    if ('jobId' in this.nextStart) return this.nextStart;
    throw this.nextStart;
  }
  async cancel(jobId: string) {
    this.record('cancel', jobId);
  }
  onJobEvent(listener: (e: JobEvent) => void) {
    this.record('onJobEvent');
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}

/** Installs the fake as the page's bridge (window.vhdsnap) and returns it. */
export function installFake(): FakeApi {
  const fake = new FakeApi();
  (globalThis as { vhdsnap?: VhdsnapApi }).vhdsnap = fake;
  return fake;
}

export function removeBridge() {
  delete (globalThis as { vhdsnap?: VhdsnapApi }).vhdsnap;
}
