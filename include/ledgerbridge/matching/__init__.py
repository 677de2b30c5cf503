"""Party matching: linking hub vendors/customers to the accounting system's, without duplicates."""
