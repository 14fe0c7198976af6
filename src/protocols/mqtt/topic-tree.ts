/**
 * Values stored under MQTT topic names, found by topic filter: a trie of levels, so matching a filter costs the
 * branches it can reach rather than every stored topic. Holds retained messages.
 */
interface TreeNode<T> {
  children: Map<string, TreeNode<T>>;
  value: T | undefined;
}

const newNode = <T>(): TreeNode<T> => ({ children: new Map(), value: undefined });

export class TopicTree<T> {
  private readonly root: TreeNode<T> = newNode();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(topic: string): T | undefined {
    let node: TreeNode<T> | undefined = this.root;
    for (const level of topic.split('/')) {
      node = node.children.get(level);
      if (!node) return undefined;
    }
    return node.value;
  }

  /** Stores value under topic; returns the value it replaces. */
  set(topic: string, value: T): T | undefined {
    let node = this.root;
    for (const level of topic.split('/')) {
      let next = node.children.get(level);
      if (!next) node.children.set(level, (next = newNode()));
      node = next;
    }
    const previous = node.value;
    if (previous === undefined) this.count++;
    node.value = value;
    return previous;
  }

  /** Removes the value under topic (pruning empty branches); returns it. */
  delete(topic: string): T | undefined {
    const path: Array<[TreeNode<T>, string]> = [];
    let node = this.root;
    for (const level of topic.split('/')) {
      const next = node.children.get(level);
      if (!next) return undefined;
      path.push([node, level]);
      node = next;
    }
    const previous = node.value;
    if (previous === undefined) return undefined;
    node.value = undefined;
    this.count--;
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i];
      const child = parent.children.get(level)!;
      if (child.value !== undefined || child.children.size > 0) break;
      parent.children.delete(level);
    }
    return previous;
  }

  /**
   * Every value whose topic matches the filter. Wildcards in the first level do not match topics starting
   * with `$` (MQTT's rule for `$SYS/...`).
   */
  match(filter: string, visit: (value: T) => void): void {
    const levels = filter.split('/');
    const walk = (node: TreeNode<T>, i: number): void => {
      if (i === levels.length) {
        if (node.value !== undefined) visit(node.value);
        return;
      }
      const level = levels[i];
      if (level === '#') {
        // `#` also matches the parent level itself: `a/#` matches `a`.
        if (node.value !== undefined && i > 0) visit(node.value);
        this.visitAll(node, i === 0, visit);
        return;
      }
      if (level === '+') {
        for (const [name, child] of node.children) {
          if (i === 0 && name.startsWith('$')) continue;
          walk(child, i + 1);
        }
        return;
      }
      const child = node.children.get(level);
      if (child) walk(child, i + 1);
    };
    walk(this.root, 0);
  }

  /** Every stored value. */
  forEach(visit: (value: T) => void): void {
    this.visitAll(this.root, false, visit);
  }

  private visitAll(node: TreeNode<T>, skipDollar: boolean, visit: (value: T) => void): void {
    for (const [name, child] of node.children) {
      if (skipDollar && name.startsWith('$')) continue;
      if (child.value !== undefined) visit(child.value);
      this.visitAll(child, false, visit);
    }
  }
}
