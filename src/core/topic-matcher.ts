/**
 * Topic-exchange matching: routing keys and binding keys are dot-separated words; in a binding key `*` matches
 * exactly one word and `#` zero or more. Bindings are kept in a trie so a publish costs the depth of the key,
 * not the number of bindings.
 */
interface TrieNode<T> {
  words: Map<string, TrieNode<T>>;
  star: TrieNode<T> | undefined;
  hash: TrieNode<T> | undefined;
  values: Set<T>;
  parent: TrieNode<T> | undefined;
  word: string;
}

function newNode<T>(parent: TrieNode<T> | undefined, word: string): TrieNode<T> {
  return { words: new Map(), star: undefined, hash: undefined, values: new Set(), parent, word };
}

export class TopicMatcher<T> {
  private readonly root: TrieNode<T> = newNode<T>(undefined, '');
  private size = 0;

  get bindingCount(): number {
    return this.size;
  }

  add(bindingKey: string, value: T): void {
    let node = this.root;
    for (const word of splitWords(bindingKey)) {
      node = this.child(node, word, true)!;
    }
    if (!node.values.has(value)) {
      node.values.add(value);
      this.size++;
    }
  }

  remove(bindingKey: string, value: T): void {
    let node: TrieNode<T> | undefined = this.root;
    for (const word of splitWords(bindingKey)) {
      node = this.child(node, word, false);
      if (!node) return;
    }
    if (!node.values.delete(value)) return;
    this.size--;
    // Prune empty branches so long-lived exchanges with churning bindings do not leak nodes.
    while (node?.parent && node.values.size === 0 && node.words.size === 0 && !node.star && !node.hash) {
      const parent: TrieNode<T> = node.parent;
      if (node.word === '*') parent.star = undefined;
      else if (node.word === '#') parent.hash = undefined;
      else parent.words.delete(node.word);
      node = parent;
    }
  }

  /** Every value whose binding key matches the routing key, each once. */
  match(routingKey: string, out: Set<T> = new Set()): Set<T> {
    const words = splitWords(routingKey);
    // (node, position) pairs already explored: `#` makes naive backtracking exponential.
    const seen = new Map<TrieNode<T>, Set<number>>();
    const visit = (node: TrieNode<T>, i: number): void => {
      let positions = seen.get(node);
      if (positions?.has(i)) return;
      if (!positions) seen.set(node, (positions = new Set()));
      positions.add(i);
      if (node.hash) {
        // `#` may swallow zero or more of the remaining words.
        for (let j = i; j <= words.length; j++) visit(node.hash, j);
      }
      if (i === words.length) {
        for (const v of node.values) out.add(v);
        return;
      }
      const exact = node.words.get(words[i]);
      if (exact) visit(exact, i + 1);
      if (node.star) visit(node.star, i + 1);
    };
    visit(this.root, 0);
    return out;
  }

  private child(node: TrieNode<T>, word: string, create: boolean): TrieNode<T> | undefined {
    if (word === '*') {
      if (!node.star && create) node.star = newNode(node, word);
      return node.star;
    }
    if (word === '#') {
      if (!node.hash && create) node.hash = newNode(node, word);
      return node.hash;
    }
    let next = node.words.get(word);
    if (!next && create) {
      next = newNode(node, word);
      node.words.set(word, next);
    }
    return next;
  }
}

/** An empty key has no words at all (RabbitMQ: '' does not match '*'); otherwise every dot separates a word. */
function splitWords(key: string): string[] {
  return key === '' ? [] : key.split('.');
}
