"""hclscan: the terraform block, its backend and the module sources of a .tf file, read by a
scanner that follows comments, strings, templates and heredocs; a file it cannot follow to its
end is said to be incomplete, never taken as empty."""
from __future__ import annotations

from tf_apply import hclscan


def test_terraform_block_backend_and_module_sources() -> None:
    scan = hclscan.scan_hcl('''
# terraform { backend "gcs" {} }   (a comment)
terraform {
  required_version = ">= 1.10"
  backend "s3" {}
}

module "net" {
  source = "../modules/net"
  name   = "a { not a block"
}

module "registry" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.0.0"
}

/* module "hidden" { source = "../hidden" } */
resource "terraform_data" "x" {
  input = <<-EOT
    module "in_heredoc" {
      source = "../heredoc"
    }
  EOT
}
''')
    assert scan.terraform and scan.backend == "s3" and scan.complete
    assert scan.sources == ["../modules/net", "terraform-aws-modules/vpc/aws"]


def test_a_nested_source_attribute_is_not_the_modules_source() -> None:
    scan = hclscan.scan_hcl('module "m" {\n  source = "./m"\n  x = { source = "../no" }\n}\n')
    assert scan.sources == ["./m"] and not scan.terraform


def test_a_template_in_a_string_with_braces_and_quotes() -> None:
    scan = hclscan.scan_hcl('locals {\n  a = "${jsonencode({ b = "}" })}"\n}\nterraform {\n}\n')
    assert scan.terraform and scan.complete


def test_a_local_source_built_from_an_expression_makes_the_file_incomplete() -> None:
    scan = hclscan.scan_hcl('module "m" {\n  source = "../${var.x}"\n}\n')
    assert not scan.complete


def test_unterminated_string_comment_heredoc_and_braces_are_incomplete() -> None:
    for text in ('a = "open\n', "/* open", "x = <<EOT\nno end\n", "terraform {\n"):
        assert not hclscan.scan_hcl(text).complete, text


def test_a_file_larger_than_the_bound_or_not_utf8_is_not_read() -> None:
    assert not hclscan.scan_file("big.tf", b"#" * (hclscan.MAX_BYTES + 1)).complete
    assert not hclscan.scan_file("bad.tf", b"terraform {\xff}").complete


def test_hostile_input_is_read_once() -> None:
    """Deep nesting, many template openings and a long line: each byte is looked at once (the
    scan ends, and says what it could not follow)."""
    assert not hclscan.scan_hcl("{" * 200_000).complete
    assert not hclscan.scan_hcl('a = "' + "${" * 100_000).complete
    assert hclscan.scan_hcl("a = 1 " * 100_000).complete


def test_tf_json() -> None:
    scan = hclscan.scan_file("main.tf.json", b'{"terraform": {"backend": {"s3": {}}}, '
                                            b'"module": {"net": {"source": "../net"}}}')
    assert scan.terraform and scan.backend == "s3" and scan.sources == ["../net"]
