// The initial catalog of Pygmy (DESIGN.md §1): four books in two topics. Every catalog replica seeds exactly this
// unless `--catalog FILE.json` names another, so all replicas start from the same state hash.
import type { Catalog } from './catalog.js';

const initialCatalog: Catalog = {
  topics: [
    { id: 1, name: 'Distributed systems' },
    { id: 2, name: 'Graduate School' },
  ],
  items: [
    { id: 1, name: 'How to get a good grade in 677 in 20 minutes a day', stock: 10, price: 19.9, topic: 1 },
    { id: 2, name: 'RPCs for Dummies', stock: 20, price: 29.9, topic: 1 },
    { id: 3, name: 'Xen and the Art of Surviving Graduate School', stock: 25, price: 9.9, topic: 2 },
    { id: 4, name: 'Cooking for the Impatient Graduate Student', stock: 15, price: 30.9, topic: 2 },
  ],
};

export default initialCatalog;
