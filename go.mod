module github.com/userimport/userimport

go 1.26
