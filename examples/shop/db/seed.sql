-- A realistic amount of development data, generated here rather than stored: 10,000
-- customers, 2,000 products and 50,000 orders. Deterministic (no random()): every seed of
-- the same file gives the same rows, and running it again (`devenv seed`) starts over.
TRUNCATE orders, products, customers RESTART IDENTITY;

INSERT INTO customers (email, name, created_at)
SELECT format('customer%s@example.test', n), format('Customer %s', n),
       timestamptz '2025-01-01' + n * interval '17 minutes'
FROM generate_series(1, 10000) AS n;

INSERT INTO products (sku, title, price_cents)
SELECT format('SKU-%s', lpad(n::text, 5, '0')), format('Product %s', n), 100 + (n * 7919) % 20000
FROM generate_series(1, 2000) AS n;

INSERT INTO orders (customer_id, product_id, quantity, ordered_at)
SELECT 1 + (n * 7) % 10000, 1 + (n * 13) % 2000, 1 + n % 5,
       timestamptz '2025-06-01' + n * interval '3 minutes'
FROM generate_series(1, 50000) AS n;

ANALYZE customers;
ANALYZE products;
ANALYZE orders;
